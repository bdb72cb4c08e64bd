// Atomic commit across databases on the real servers: PostgreSQL and
// MariaDB mixed, SQLite as the last resource, failures before and after the
// decision, a child process killed with SIGKILL at every step of the
// protocol (and during recovery), a participant server halted between
// prepare and commit, two coordinators side by side, and retries of
// deadlocked transactions.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/plexus.hpp"

using namespace plexus;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

void servers(const std::string& verb, const std::string& name) {
  const std::string script = env("PLEXUS_SERVERS_SCRIPT");
  ASSERT_FALSE(script.empty());
  ASSERT_EQ(std::system((script + " " + verb + " " + name + " >/dev/null 2>&1").c_str()), 0) << verb << " " << name;
}

class GlobalTx : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("PLEXUS_TEST_PG_URL").empty() || env("PLEXUS_TEST_MYSQL_URL").empty() || env("PLEXUS_TEST_PG_SHARD1_URL").empty())
      GTEST_SKIP() << "the test servers are not running: run ./scripts/test";
    dir = fs::temp_directory_path() / ("plexus_gtx_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    name = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()).substr(0, 24);
    for (auto& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    auto db = open("setup");
    // Branches a failed earlier run left prepared hold locks on the tables: resolve them first.
    (void)db->recover(RecoverOptions{true, std::chrono::seconds(0)});
    for (const char* conn : {"pg", "pg2", "my", "lite"}) {
      db->connection(conn).execute("DROP TABLE IF EXISTS " + table());
      db->connection(conn).execute("CREATE TABLE " + table() + " (id BIGINT PRIMARY KEY, note VARCHAR(100))");
    }
  }
  void TearDown() override {
    if (dir.empty()) return;
    try {
      auto db = open("teardown");
      for (const char* conn : {"pg", "pg2", "my", "lite"}) db->connection(conn).execute("DROP TABLE IF EXISTS " + table());
    } catch (...) {
    }
    fs::remove_all(dir);
  }
  [[nodiscard]] std::string table() const { return "gtx_" + name; }
  /// Connections pg (primary), pg2 (another server), my (MariaDB), lite and
  /// lite2 (SQLite files); the decision log in a table on pg unless `file_log`.
  std::unique_ptr<Database> open(const std::string& coordinator, bool file_log = false) {
    DatabaseConfig cfg;
    cfg.add("pg", env("PLEXUS_TEST_PG_URL"));
    cfg.add("pg2", env("PLEXUS_TEST_PG_SHARD1_URL"));
    cfg.add("my", env("PLEXUS_TEST_MYSQL_URL"));
    cfg.add("lite", sqlite((dir / "lite.db").string()));
    cfg.add("lite2", sqlite((dir / "lite2.db").string()));
    cfg.transactions.coordinator = coordinator;
    if (file_log) cfg.transactions.log_file = (dir / "decisions.log").string();
    else cfg.transactions.log_connection = "pg";
    return std::make_unique<Database>(cfg);
  }
  std::int64_t count(Database& db, const char* conn, std::int64_t id) {
    return db.connection(conn).on_primary().scalar("SELECT count(*) FROM " + table() + " WHERE id = ?", {id}).as<std::int64_t>();
  }
  /// Prepared branches of `coordinator` still waiting anywhere.
  std::size_t pending(Database& db, const std::string& coordinator) {
    std::size_t n = 0;
    for (const auto& b : db.pending_transactions().branches) n += b.coordinator == coordinator;
    return n;
  }
  fs::path dir;
  std::string name;
};

}  // namespace

TEST_F(GlobalTx, CommitsPostgresAndMariaDBTogetherOrNeither) {
  auto db = open("t-commit");
  std::vector<std::string> statements;
  std::mutex statements_mutex;  // the participants commit in parallel: hooks run on several threads
  db->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(statements_mutex);
    if (!e.global_id.empty()) statements.push_back(std::string(e.connection) + ": " + std::string(e.sql));
  });
  const std::string gid = db->transaction({"pg", "my", "pg2"}, [&](GlobalTransaction& g) {
    g["pg"].execute("INSERT INTO " + table() + " (id, note) VALUES (1, 'user')");
    g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (1, 'order')");
    g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (1, 'shard')");
    return g.id();
  });
  EXPECT_EQ(count(*db, "pg", 1), 1);
  EXPECT_EQ(count(*db, "my", 1), 1);
  EXPECT_EQ(count(*db, "pg2", 1), 1);
  EXPECT_EQ(pending(*db, "t-commit"), 0u) << "no prepared branch is left behind";
  EXPECT_TRUE(gid.starts_with("plx.t-commit.")) << gid;
  // Every step of the protocol reached the hooks with the global id.
  auto saw = [&](const std::string& text) {
    return std::count_if(statements.begin(), statements.end(),
                         [&](const std::string& s) { return s.find(text) != std::string::npos; });
  };
  // Each engine's own statements: PREPARE TRANSACTION on PostgreSQL, XA on
  // MariaDB; pg holds the decision log and takes part, so it does not
  // prepare: the decision is written in its transaction and its commit decides.
  EXPECT_EQ(saw("pg2: PREPARE TRANSACTION '" + gid + ".2'"), 1) << ::testing::PrintToString(statements);
  EXPECT_EQ(saw("pg2: COMMIT PREPARED '" + gid + ".2'"), 1);
  EXPECT_EQ(saw("pg: PREPARE"), 0);
  EXPECT_EQ(saw("pg: COMMIT"), 1);
  EXPECT_EQ(saw("my: XA START '" + gid + "','1'"), 1);
  EXPECT_EQ(saw("my: XA END '" + gid + "','1'; XA PREPARE '" + gid + "','1'"), 1);
  EXPECT_EQ(saw("my: XA COMMIT '" + gid + "','1'"), 1);
  EXPECT_EQ(saw("INSERT INTO plexus_tx_log"), 1) << "the decision, logged before the commits";

  // Decisions of completed transactions are dropped in batches: the log never
  // grows without bound, and a Database going away drops what it still holds.
  auto decisions = [&] {
    return open("t-count-log")->connection("pg").scalar("SELECT count(*) FROM plexus_tx_log WHERE gtrid LIKE 'plx.t-commit.%'").as<std::int64_t>();
  };
  for (int i = 0; i < 40; ++i)
    db->transaction({"pg2", "my"}, [&](GlobalTransaction& g) {
      g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (?, 'many')", {100 + i});
      g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (?, 'many')", {100 + i});
    });
  EXPECT_LT(decisions(), 32);
  EXPECT_EQ(count(*db, "pg2", 139) + count(*db, "my", 139), 2);

  // A failure in the closure: nothing anywhere.
  EXPECT_THROW(db->transaction({"pg", "my"},
                               [&](GlobalTransaction& g) {
                                 g["pg"].execute("INSERT INTO " + table() + " (id, note) VALUES (2, 'x')");
                                 g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (2, 'x')");
                                 throw std::runtime_error("changed my mind");
                               }),
               std::runtime_error);
  EXPECT_EQ(count(*db, "pg", 2) + count(*db, "my", 2), 0);
  EXPECT_EQ(pending(*db, "t-commit"), 0u);
  db.reset();
  EXPECT_EQ(decisions(), 0);
}

TEST_F(GlobalTx, AFailedPrepareRollsBackEveryParticipant) {
  auto db = open("t-prepare");
  // A deferred unique constraint fails only when the branch prepares.
  db->connection("pg").execute("DROP TABLE IF EXISTS " + table() + "_u");
  db->connection("pg").execute("CREATE TABLE " + table() +
                               "_u (k INT, CONSTRAINT u_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)");
  db->connection("pg").execute("INSERT INTO " + table() + "_u VALUES (1)");
  try {
    db->transaction({"my", "pg"}, [&](GlobalTransaction& g) {
      g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (3, 'x')");
      g["pg"].execute("INSERT INTO " + table() + "_u VALUES (1)");  // checked at PREPARE
    });
    FAIL() << "the duplicate was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is_constraint_violation()) << e.what();
  }
  EXPECT_EQ(count(*db, "my", 3), 0) << "MariaDB's prepared branch was rolled back";
  EXPECT_EQ(pending(*db, "t-prepare"), 0u);
  db->connection("pg").execute("DROP TABLE " + table() + "_u");
}

TEST_F(GlobalTx, SqliteJoinsAsTheLastResourceAndOnlyOne) {
  auto db = open("t-lite");
  db->transaction({"pg", "lite", "my"}, [&](GlobalTransaction& g) {
    for (const char* c : {"pg", "lite", "my"}) g[c].execute("INSERT INTO " + table() + " (id, note) VALUES (4, 'x')");
  });
  EXPECT_EQ(count(*db, "pg", 4) + count(*db, "lite", 4) + count(*db, "my", 4), 3);
  try {
    (void)db->begin_global({"lite", "pg", "lite2"});
    FAIL() << "two participants that cannot prepare were accepted";
  } catch (const UsageError& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("'lite'"), std::string::npos) << w;
    EXPECT_NE(w.find("'lite2'"), std::string::npos) << w;
  }
  EXPECT_THROW((void)db->begin_global({"pg", "pg"}), UsageError);
  EXPECT_THROW((void)db->begin_global({"pg", "nope"}), ConfigError);
  auto g = db->begin_global({"pg", "my"});
  EXPECT_THROW((void)g["lite"], UsageError) << "not a participant";
  EXPECT_THROW(g["pg"].commit(), UsageError) << "a branch commits with its global transaction";
  g.rollback();
}

namespace {

/// Runs `body` in a child process and waits for it; true when it was killed by SIGKILL.
bool killed_in_child(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace

TEST_F(GlobalTx, AProcessKilledAtAnyStepLeavesAllOrNothingAfterRecovery) {
  // Four set-ups: the decision in a table on another connection, in that
  // table when its connection takes part (its commit decides), in a file, and
  // in SQLite as the last resource (its commit decides).
  struct Case {
    std::vector<std::string> participants;
    const char* label;
    bool file_log = false;
  };
  std::int64_t base = 0;
  for (const Case& c : {Case{{"my", "pg2"}, "log table"}, Case{{"pg", "my", "pg2"}, "log table, taking part"},
                        Case{{"pg", "my"}, "log file", true}, Case{{"pg", "my", "lite"}, "last resource"}}) {
    base += 1000;  // ids of their own: the participants overlap
    // How many two-phase statements a whole commit makes: a kill after each.
    std::atomic<int> steps = 0;  // hooks run on the threads of the parallel phases too
    {
      auto db = open("t-count", c.file_log);
      db->on_after_query([&](const QueryEvent& e) { steps += !e.global_id.empty(); });
      auto g = db->begin_global(c.participants);
      for (const auto& p : c.participants) g[p].execute("INSERT INTO " + table() + " (id, note) VALUES (999, 'x')");
      g.commit();
      for (const auto& p : c.participants) db->connection(p).execute("DELETE FROM " + table() + " WHERE id = 999");
    }
    ASSERT_GE(steps, 7) << c.label;
    int committed = 0, rolled_back = 0;
    for (int k = 1; k <= steps; ++k) {
      const std::int64_t id = base + k;
      const std::string coordinator = "t-crash-" + std::to_string(k);
      const bool killed = killed_in_child([&] {
        auto db = open(coordinator, c.file_log);
        std::atomic<int> seen = 0;
        db->on_after_query([&](const QueryEvent& e) {
          if (!e.global_id.empty() && ++seen == k) ::raise(SIGKILL);
        });
        auto g = db->begin_global(c.participants);
        for (const auto& p : c.participants)
          g[p].execute("INSERT INTO " + table() + " (id, note) VALUES (?, 'x')", {id});
        g.commit();
      });
      // The last step (forgetting the decision) may run after the commit returned.
      if (k < steps) {
        EXPECT_TRUE(killed) << c.label << ": step " << k;
      }
      // A recovery killed after its first step, then a whole one.
      (void)killed_in_child([&] {
        auto db = open(coordinator, c.file_log);
        db->on_after_query([&](const QueryEvent& e) {
          if (e.route == "recovery") ::raise(SIGKILL);
        });
        (void)db->recover();
      });
      auto db = open(coordinator, c.file_log);
      const auto report = db->recover();
      EXPECT_TRUE(report.unreachable.empty()) << c.label;
      std::int64_t rows = 0;
      for (const auto& p : c.participants) rows += count(*db, p.c_str(), id);
      EXPECT_TRUE(rows == 0 || rows == static_cast<std::int64_t>(c.participants.size()))
          << c.label << ": killed after step " << k << ", " << rows << " of " << c.participants.size()
          << " participants committed";
      (rows ? committed : rolled_back)++;
      EXPECT_EQ(pending(*db, coordinator), 0u) << c.label << ": step " << k << " left a prepared branch";
    }
    EXPECT_GT(committed, 0) << c.label << ": some kills come after the decision";
    EXPECT_GT(rolled_back, 0) << c.label << ": some kills come before it";
    std::printf("figures: crash injection (%s): %d steps, committed %d, rolled back %d, mixed 0\n", c.label, steps.load(),
                committed, rolled_back);
  }
}

TEST_F(GlobalTx, AParticipantDownBetweenPrepareAndCommitIsCompletedByRecovery) {
  if (env("PLEXUS_SERVERS_SCRIPT").empty()) GTEST_SKIP() << "needs scripts/servers to halt a server";
  auto db = open("t-halt");
  std::atomic<bool> halted{false};
  db->on_after_query([&](const QueryEvent& e) {
    // Once the decision is logged, MariaDB goes down before its commit.
    if (!halted && std::string_view(e.sql).find("INSERT INTO plexus_tx_log") != std::string_view::npos) {
      halted = true;
      servers("halt", "my-primary");
    }
  });
  try {
    db->transaction({"pg", "my"}, [&](GlobalTransaction& g) {
      g["pg"].execute("INSERT INTO " + table() + " (id, note) VALUES (5, 'x')");
      g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (5, 'x')");
    });
    ADD_FAILURE() << "a commit with a participant down reported success";
  } catch (const InDoubtError& e) {
    EXPECT_EQ(e.pending(), std::vector<std::string>{"my"}) << e.what();
    EXPECT_NE(std::string(e.what()).find("recover()"), std::string::npos) << e.what();
  }
  servers("resume", "my-primary");
  EXPECT_EQ(count(*db, "pg", 5), 1) << "the decided participant committed";
  RecoveryReport report;
  for (int i = 0; i < 50; ++i) {  // until MariaDB accepts connections again
    report = db->recover();
    if (report.unreachable.empty()) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(report.count(RecoveryAction::What::committed), 1u);
  EXPECT_EQ(count(*db, "my", 5), 1) << "recovery completed the commit";
  EXPECT_EQ(pending(*db, "t-halt"), 0u);
}

TEST_F(GlobalTx, RetryRerunsADeadlockedTransactionAndNothingElse) {
  auto db = open("t-retry");
  for (const char* conn : {"pg", "my"}) {
    auto& c = db->connection(conn);
    c.execute("INSERT INTO " + table() + " (id, note) VALUES (1, '0'), (2, '0')");
    std::atomic<int> attempts{0}, retried_events{0};
    c.on_after_query([&](const QueryEvent& e) {
      if (e.route.starts_with("transaction: retry")) ++retried_events;
    });
    std::atomic<int> ready{0};
    auto worker = [&](int first, int second) {
      TransactionOptions opts;
      opts.retry.attempts = 5;
      c.transaction(
          [&](Transaction& tx) {
            ++attempts;
            tx.execute("UPDATE " + table() + " SET note = " + (std::string(conn) == "pg" ? "CAST(CAST(note AS INT) + 1 AS VARCHAR)" : "note + 1") + " WHERE id = ?", {first});
            ++ready;
            while (ready < 2 && tx.attempt() == 1) std::this_thread::sleep_for(milliseconds(1));
            tx.execute("UPDATE " + table() + " SET note = " + (std::string(conn) == "pg" ? "CAST(CAST(note AS INT) + 1 AS VARCHAR)" : "note + 1") + " WHERE id = ?", {second});
          },
          opts);
    };
    std::thread a(worker, 1, 2), b(worker, 2, 1);
    a.join();
    b.join();
    EXPECT_EQ(c.scalar("SELECT note FROM " + table() + " WHERE id = 1").as<std::string>(), "2") << conn << ": exactly once each";
    EXPECT_EQ(c.scalar("SELECT note FROM " + table() + " WHERE id = 2").as<std::string>(), "2") << conn;
    EXPECT_EQ(attempts.load(), 3) << conn << ": one deadlock victim ran again";
    EXPECT_EQ(retried_events.load(), 1) << conn << ": the retry reached the hooks";
    // A failure that is no conflict is never run again.
    int runs = 0;
    TransactionOptions opts;
    opts.retry.attempts = 5;
    EXPECT_THROW(c.transaction([&](Transaction& tx) {
                   ++runs;
                   tx.execute("INSERT INTO " + table() + " (id, note) VALUES (1, 'dup')");
                 }, opts),
                 ConstraintError);
    EXPECT_EQ(runs, 1) << conn;
  }
}

TEST_F(GlobalTx, CoordinatorsNeverResolveEachOthersTransactionsInFlight) {
  auto a = open("t-coord-a");
  auto b = open("t-coord-b");
  std::atomic<bool> prepared{false}, recovered{false};
  std::thread runner([&] {
    a->on_after_query([&](const QueryEvent& e) {
      if (std::string_view(e.sql).starts_with("XA END") && e.connection == "my") {
        prepared = true;
        while (!recovered) std::this_thread::sleep_for(milliseconds(5));
      }
    });
    a->transaction({"pg2", "my"}, [&](GlobalTransaction& g) {
      g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (6, 'a')");
      g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (6, 'a')");
    });
  });
  while (!prepared) std::this_thread::sleep_for(milliseconds(5));
  // B recovers while A's branches sit prepared: it leaves them alone; so does
  // A's own recovery (they are in flight there).
  for (const auto& report : {b->recover(), b->recover(RecoverOptions{true}), a->recover()}) {
    std::size_t left = 0;
    for (const auto& act : report.actions)
      if (act.global_id.find("t-coord-a") != std::string::npos) {
        EXPECT_EQ(act.what, RecoveryAction::What::left) << act.reason;
        ++left;
      }
    EXPECT_EQ(left, 2u) << "both of A's prepared branches were seen and left";
  }
  recovered = true;
  runner.join();
  EXPECT_EQ(count(*a, "pg2", 6) + count(*a, "my", 6), 2) << "A's transaction committed untouched";
}

namespace {

/// 100,000 rows of every kind of value on MariaDB, in batches.
void fill_source(Connection& my, const std::string& t, std::int64_t n) {
  my.execute("DROP TABLE IF EXISTS " + t);
  my.execute("CREATE TABLE " + t +
             " (id BIGINT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,2), flag BOOLEAN, created DATETIME(6), "
             "data LONGBLOB, note VARCHAR(50) NULL)");
  std::vector<Fields> rows;
  for (std::int64_t i = 1; i <= n; ++i) {
    rows.push_back({{"id", i},
                    {"name", "user-" + std::to_string(i) + (i % 7 == 0 ? " Grüße 🌍" : "")},
                    {"amount", std::to_string(i % 100000) + "." + std::to_string(10 + i % 90)},
                    {"flag", i % 2 == 0},
                    {"created", Timestamp(sys_days(year{2024} / 1 / 1)) + microseconds(i * 1234567)},
                    {"data", Bytes(std::vector<std::uint8_t>{0, static_cast<std::uint8_t>(i % 256), 255})},
                    {"note", i % 3 == 0 ? Value() : Value("n" + std::to_string(i))}});
    if (rows.size() == 5000) {
      my.table(t).insert_many(rows);
      rows.clear();
    }
  }
  if (!rows.empty()) my.table(t).insert_many(rows);
}

void make_target(Connection& c, const std::string& t, bool postgres) {
  c.execute("DROP TABLE IF EXISTS " + t);
  c.execute("CREATE TABLE " + t + (postgres ? " (id BIGINT PRIMARY KEY, name VARCHAR(100), amount NUMERIC(12,2), flag BOOLEAN, "
                                              "created TIMESTAMP(6), data BYTEA, note VARCHAR(50))"
                                            : " (id BIGINT PRIMARY KEY, name VARCHAR(100), amount DECIMAL(12,2), flag BOOLEAN, "
                                              "created DATETIME(6), data LONGBLOB, note VARCHAR(50) NULL)"));
}

}  // namespace

TEST_F(GlobalTx, CopiesAHundredThousandRowsBetweenEnginesAndBackExactly) {
  auto db = open("t-copy");
  const std::string src = table() + "_src", dst = table() + "_dst", back = table() + "_back";
  constexpr std::int64_t n = 100000;
  fill_source(db->connection("my"), src, n);
  make_target(db->connection("pg"), dst, true);
  make_target(db->connection("my"), back, false);
  std::uint64_t calls = 0;
  auto there = copy_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"}, .batch = 2000,
                               .verify = true, .progress = [&](const CopyProgress&) { ++calls; }});
  EXPECT_EQ(there.rows_read, static_cast<std::uint64_t>(n));
  EXPECT_EQ(there.rows_written, static_cast<std::uint64_t>(n));
  EXPECT_EQ(there.target_rows, static_cast<std::uint64_t>(n));
  EXPECT_EQ(there.source_checksum, there.target_checksum) << "MariaDB → PostgreSQL changed a value";
  EXPECT_EQ(calls, there.batches);
  auto home = copy_rows(*db, {.from = "pg", .table = dst, .to = "my", .into = back, .key = {"id"}, .batch = 2000,
                              .verify = true});
  EXPECT_EQ(home.source_checksum, there.source_checksum) << "and back again, every value as it was";
  EXPECT_EQ(home.target_checksum, there.source_checksum);
  // Again with upserts: nothing doubles; skip keeps what is there.
  auto again = copy_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"},
                               .on_conflict = OnConflict::update, .batch = 5000});
  EXPECT_EQ(again.rows_written, static_cast<std::uint64_t>(n));
  auto skipped = copy_rows(*db, {.from = "my", .query = "SELECT * FROM " + src + " WHERE id <= ?", .params = {100},
                                 .to = "pg", .into = dst, .key = {"id"}, .on_conflict = OnConflict::skip});
  EXPECT_EQ(skipped.rows_skipped, 100u);
  EXPECT_EQ(db->connection("pg").scalar("SELECT count(*) FROM " + dst).as<std::int64_t>(), n);
  // What cannot work is refused before anything is read.
  EXPECT_THROW((void)copy_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .verify = true}), UsageError);
  EXPECT_THROW((void)move_rows(*db, {.from = "my", .query = "SELECT 1", .to = "pg", .into = dst, .key = {"id"}}), UsageError);
  std::printf("figures: copy MariaDB→PostgreSQL %lld rows in %lld ms, back in %lld ms; checksums equal\n",
              static_cast<long long>(n), static_cast<long long>(there.elapsed.count()),
              static_cast<long long>(home.elapsed.count()));
  for (const auto& t : {src, back}) db->connection("my").execute("DROP TABLE " + t);
  db->connection("pg").execute("DROP TABLE " + dst);
}

TEST_F(GlobalTx, AMoveKilledHalfwayLeavesEveryRowInExactlyOnePlace) {
  const std::string src = table() + "_msrc", dst = table() + "_mdst";
  constexpr std::int64_t n = 20000;
  {
    auto db = open("t-move");
    fill_source(db->connection("my"), src, n);
    make_target(db->connection("pg"), dst, true);
  }
  const bool killed = killed_in_child([&] {
    auto db = open("t-move");
    (void)move_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"}, .batch = 1000,
                          .progress = [](const CopyProgress& p) {
                            if (p.batches == 7) ::raise(SIGKILL);
                          }});
  });
  EXPECT_TRUE(killed);
  auto db = open("t-move");
  (void)db->recover();
  auto ids = [&](const char* conn, const std::string& t) {
    std::set<std::int64_t> out;
    for (Row r : db->connection(conn).select("SELECT id FROM " + t)) out.insert(r[0].as<std::int64_t>());
    return out;
  };
  const auto left = ids("my", src), moved = ids("pg", dst);
  EXPECT_EQ(left.size() + moved.size(), static_cast<std::size_t>(n)) << "every row in one place or the other";
  std::size_t both = 0;
  for (auto id : moved) both += left.contains(id);
  EXPECT_EQ(both, 0u) << "no row in both places";
  EXPECT_GE(moved.size(), 7000u);
  EXPECT_LT(moved.size(), static_cast<std::size_t>(n));
  // The move finishes from where it stopped.
  auto rest = move_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"}, .batch = 1000});
  EXPECT_EQ(rest.rows_deleted, left.size());
  EXPECT_EQ(ids("pg", dst).size(), static_cast<std::size_t>(n));
  EXPECT_TRUE(ids("my", src).empty());
  db->connection("my").execute("DROP TABLE " + src);
  db->connection("pg").execute("DROP TABLE " + dst);
}

// A recovery in the same process as running commits never touches a branch
// that process may still decide: one thread commits PostgreSQL + MariaDB
// transactions in a loop while another recovers every 20 ms; every
// transaction ends committed on both databases, none in doubt, with the
// decision in a table or in a file.
TEST_F(GlobalTx, RecoveryRacingItsOwnProcessesCommitsLeavesEveryTransactionWhole) {
  for (const bool file_log : {false, true}) {
    auto db = open(file_log ? "t-race-file" : "t-race-table", file_log);
    const std::string note = file_log ? "race-file" : "race-table";
    std::atomic<bool> stop{false};
    std::atomic<int> in_doubt{0}, committed{0}, recoveries{0};
    std::atomic<std::int64_t> next_id{file_log ? 100000 : 0};
    std::thread committer([&] {
      while (!stop) {
        const std::int64_t id = ++next_id;
        try {
          db->transaction({"pg2", "my"}, [&](GlobalTransaction& g) {
            g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (?, ?)", {id, note});
            g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (?, ?)", {id, note});
          });
          ++committed;
        } catch (const InDoubtError&) {
          ++in_doubt;
        }
      }
    });
    std::vector<std::string> forgotten;
    const auto until = steady_clock::now() + seconds(3);
    while (steady_clock::now() < until) {
      const auto report = db->recover();
      for (const auto& a : report.actions) {
        if (a.global_id.find(file_log ? "t-race-file" : "t-race-table") == std::string::npos) continue;
        EXPECT_EQ(a.what, RecoveryAction::What::left) << a.global_id << " on " << a.connection << ": " << a.reason;
      }
      EXPECT_TRUE(report.unreachable.empty()) << ::testing::PrintToString(report.unreachable);
      forgotten.insert(forgotten.end(), report.forgotten.begin(), report.forgotten.end());
      ++recoveries;
      std::this_thread::sleep_for(milliseconds(20));
    }
    stop = true;
    committer.join();
    (void)db->recover();
    EXPECT_EQ(in_doubt, 0);
    EXPECT_GT(committed, 5) << "the loop committed too few transactions to mean anything";
    EXPECT_GT(recoveries, 5);
    const auto rows = [&](const char* conn) {
      return db->connection(conn).on_primary().scalar("SELECT count(*) FROM " + table() + " WHERE note = ?", {note}).as<std::int64_t>();
    };
    EXPECT_EQ(rows("pg2"), rows("my")) << (file_log ? "file log" : "table log");
    EXPECT_EQ(rows("pg2"), committed.load());
    EXPECT_EQ(pending(*db, file_log ? "t-race-file" : "t-race-table"), 0u);
    // Every decision a recovery dropped belonged to a transaction that committed everywhere.
    for (const auto& gid : forgotten) EXPECT_TRUE(gid.find("t-race-") != std::string::npos) << gid;
    std::printf("figures: recovery racing its own commits (%s log): %d transactions committed, %d recoveries, %d in "
                "doubt, rows PostgreSQL %lld = MariaDB %lld\n",
                file_log ? "file" : "table", committed.load(), recoveries.load(), in_doubt.load(),
                static_cast<long long>(rows("pg2")), static_cast<long long>(rows("my")));
  }
}

// A decision whose branches are all gone is dropped by recovery, and said so.
TEST_F(GlobalTx, RecoveryReportsTheDecisionsItDrops) {
  auto db = open("t-forgotten");
  const std::string gid = db->transaction({"pg2", "my"}, [&](GlobalTransaction& g) {
    g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (7, 'f')");
    g["my"].execute("INSERT INTO " + table() + " (id, note) VALUES (7, 'f')");
    return g.id();
  });
  // Completed decisions are dropped in batches: this one is still in the log.
  const auto report = db->recover();
  EXPECT_NE(std::find(report.forgotten.begin(), report.forgotten.end(), gid), report.forgotten.end())
      << "the dropped decision is reported";
  EXPECT_EQ(report.count(RecoveryAction::What::rolled_back), 0u);
  EXPECT_TRUE(db->recover().forgotten.empty()) << "and it is gone";
}

// MariaDB refuses to resolve a prepared branch whose own session is still
// connected: the branch is left with that reason, and the connection, which
// answered, is not called unreachable.
TEST_F(GlobalTx, ABranchTheServerRefusesToResolveIsLeftNotUnreachable) {
  const std::string gid = "plx.t-held." + std::to_string(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()) + "_1";
  // A pool of one session: it prepares the branch and stays connected.
  DatabaseConfig held;
  held.add("my", env("PLEXUS_TEST_MYSQL_URL")).pool.max = 1;
  auto holder = std::make_unique<Database>(held);
  auto& my = holder->connection("my");
  my.execute("XA START '" + gid + "','0'");
  my.execute("INSERT INTO " + table() + " (id, note) VALUES (9, 'held')");
  my.execute("XA END '" + gid + "','0'");
  my.execute("XA PREPARE '" + gid + "','0'");
  auto db = open("t-held");
  const auto report = db->recover();
  bool seen = false;
  for (const auto& a : report.actions)
    if (a.global_id == gid) {
      seen = true;
      if (a.what == RecoveryAction::What::left) EXPECT_NE(a.reason.find("refused"), std::string::npos) << a.reason;
      else EXPECT_EQ(a.what, RecoveryAction::What::rolled_back) << "either refused and left, or resolved";
    }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(report.unreachable.empty()) << "'my' answered: " << ::testing::PrintToString(report.unreachable);
  holder.reset();  // the session disconnects: now the branch can be resolved
  std::this_thread::sleep_for(milliseconds(200));
  (void)db->recover();
  EXPECT_EQ(pending(*db, "t-held"), 0u);
  EXPECT_EQ(count(*db, "my", 9), 0) << "presumed abort";
}

// A move killed after a batch's decision and before its commits finishes
// when it is simply run again: it completes its own coordinator's leftovers
// first; no recovery by hand.
TEST_F(GlobalTx, AMoveKilledAfterADecisionFinishesWhenRunAgain) {
  const std::string src = table() + "_dsrc", dst = table() + "_ddst";
  constexpr std::int64_t n = 3000;
  {
    auto db = open("t-move-decided");
    fill_source(db->connection("my"), src, n);
    make_target(db->connection("pg"), dst, true);
  }
  const bool killed = killed_in_child([&] {
    auto db = open("t-move-decided");
    std::atomic<int> decisions = 0;
    // pg holds the decision log and is the target: its commit is each batch's decision.
    db->on_after_query([&](const QueryEvent& e) {
      if (!e.global_id.empty() && e.connection == "pg" && std::string_view(e.sql) == "COMMIT" && ++decisions == 3)
        ::raise(SIGKILL);
    });
    (void)move_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"}, .batch = 500});
  });
  ASSERT_TRUE(killed);
  auto db = open("t-move-decided");
  EXPECT_GT(pending(*db, "t-move-decided"), 0u) << "the kill left the third batch's MariaDB branch prepared";
  auto rest = move_rows(*db, {.from = "my", .table = src, .to = "pg", .into = dst, .key = {"id"}, .batch = 500});
  EXPECT_EQ(rest.rows_deleted + 1500u, static_cast<std::uint64_t>(n));
  EXPECT_EQ(db->connection("pg").scalar("SELECT count(DISTINCT id) FROM " + dst).as<std::int64_t>(), n);
  EXPECT_EQ(db->connection("pg").scalar("SELECT count(*) FROM " + dst).as<std::int64_t>(), n);
  EXPECT_EQ(db->connection("my").scalar("SELECT count(*) FROM " + src).as<std::int64_t>(), 0);
  EXPECT_EQ(pending(*db, "t-move-decided"), 0u);
  db->connection("my").execute("DROP TABLE " + src);
  db->connection("pg").execute("DROP TABLE " + dst);
}

// A copy or move onto the very table it reads is refused before anything
// runs: through one connection name and through two names for one database,
// on every engine.
TEST_F(GlobalTx, ACopyOrMoveOfATableOntoItselfIsRefusedAndChangesNothing) {
  DatabaseConfig cfg;
  cfg.add("pg", env("PLEXUS_TEST_PG_URL"));
  cfg.add("pg_again", env("PLEXUS_TEST_PG_URL"));
  cfg.add("my", env("PLEXUS_TEST_MYSQL_URL"));
  cfg.add("my_again", env("PLEXUS_TEST_MYSQL_URL"));
  cfg.add("lite", sqlite((dir / "lite.db").string()));
  cfg.add("lite_again", sqlite((dir / "." / "lite.db").string()));
  cfg.add("pg2", env("PLEXUS_TEST_PG_SHARD1_URL"));
  cfg.transactions.coordinator = "t-self";
  cfg.transactions.log_connection = "pg";
  Database db(cfg);
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"pg", "pg"}, {"pg", "pg_again"}, {"my", "my"}, {"my", "my_again"}, {"lite", "lite"}, {"lite", "lite_again"}}) {
    db.connection(a).execute("DELETE FROM " + table());
    db.connection(a).execute("INSERT INTO " + table() + " (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    for (const bool move : {true, false})
      for (const auto conflict : {OnConflict::fail, OnConflict::update, OnConflict::skip}) {
        const CopySpec spec{.from = a, .table = table(), .to = b, .key = {"id"}, .on_conflict = conflict};
        try {
          (void)(move ? move_rows(db, spec) : copy_rows(db, spec));
          ADD_FAILURE() << a << " -> " << b << (move ? " move" : " copy") << " was not refused";
        } catch (const UsageError& e) {
          EXPECT_NE(std::string(e.what()).find("onto itself"), std::string::npos) << e.what();
        }
        EXPECT_EQ(db.connection(a).scalar("SELECT count(*) FROM " + table()).as<std::int64_t>(), 3) << a << " -> " << b;
      }
    // Another table of the same database, or the same table on another database, is fine.
    db.connection(a).execute("DROP TABLE IF EXISTS " + table() + "_other");
    db.connection(a).execute("CREATE TABLE " + table() + "_other (id BIGINT PRIMARY KEY, note VARCHAR(100))");
    EXPECT_EQ(copy_rows(db, {.from = a, .table = table(), .to = b, .into = table() + "_other", .key = {"id"}}).rows_written, 3u);
    db.connection(a).execute("DROP TABLE " + table() + "_other");
  }
  db.connection("pg2").execute("INSERT INTO " + table() + " (id, note) VALUES (5, 'e')");
  EXPECT_EQ(copy_rows(db, {.from = "pg2", .table = table(), .to = "pg"}).rows_written, 1u);
}

// A participant whose server refuses the connection: the error names the
// connection and the branch it was starting, not a plain BEGIN it never ran;
// nothing is left anywhere.
TEST_F(GlobalTx, AParticipantThatCannotConnectIsNamedWithTheBranchItWasStarting) {
  DatabaseConfig cfg;
  cfg.add("pg2", env("PLEXUS_TEST_PG_SHARD1_URL"));
  auto dead = parse_url(env("PLEXUS_TEST_MYSQL_URL"));
  dead.hosts.at(0).port = 1;
  dead.pool.acquire_timeout = milliseconds(2000);
  cfg.add("dead_my", dead);
  cfg.transactions.coordinator = "t-dead";
  cfg.transactions.log_file = (dir / "dead.log").string();
  Database db(cfg);
  try {
    db.transaction({"pg2", "dead_my"}, [&](GlobalTransaction& g) {
      g["pg2"].execute("INSERT INTO " + table() + " (id, note) VALUES (11, 'x')");
    });
    FAIL() << "a participant that cannot connect took part";
  } catch (const ConnectionError& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("dead_my"), std::string::npos) << w;
    EXPECT_EQ(w.find("while running: BEGIN"), std::string::npos) << w;
    EXPECT_NE(w.find("two-phase branch plx.t-dead."), std::string::npos) << w;
  }
  EXPECT_EQ(db.connection("pg2").scalar("SELECT count(*) FROM " + table() + " WHERE id = 11").as<int>(), 0);
  EXPECT_EQ(pending(db, "t-dead"), 0u);
}

// A recovery limited to some connections looks only at those: another
// connection's leftover branch waits for a recovery that includes it.
TEST_F(GlobalTx, ARecoveryOfSomeConnectionsLeavesTheOthersAlone) {
  const std::string gtrid = "plx.t-only." + std::to_string(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()) + "_1";
  {
    DatabaseConfig one_session;
    one_session.add("pg2", env("PLEXUS_TEST_PG_SHARD1_URL")).pool.max = 1;
    Database raw(one_session);
    auto& pg2 = raw.connection("pg2");
    pg2.execute("BEGIN");
    pg2.execute("INSERT INTO " + table() + " (id, note) VALUES (12, 'left')");
    pg2.execute("PREPARE TRANSACTION '" + gtrid + ".0'");
  }
  auto db = open("t-only");
  ASSERT_EQ(pending(*db, "t-only"), 1u);
  RecoverOptions only_my;
  only_my.connections = {"my"};
  const auto narrow = db->recover(only_my);
  for (const auto& a : narrow.actions) EXPECT_NE(a.connection, "pg2") << "pg2 was not to be looked at";
  EXPECT_EQ(pending(*db, "t-only"), 1u) << "pg2's branch waits";
  (void)db->recover();
  EXPECT_EQ(pending(*db, "t-only"), 0u);
  EXPECT_EQ(count(*db, "pg2", 12), 0) << "presumed abort";
}

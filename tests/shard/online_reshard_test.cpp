// Online resharding under live traffic: threads reading and writing by key
// through the group while rows are copied, caught up, verified, switched,
// reversed and completed; interruptions in each state; a process that has
// not seen the switch fenced at the old place; refusals before anything runs.
// On SQLite files always, and on the servers when they run: PostgreSQL x2,
// MariaDB and SQLite onto five new databases (PostgreSQL x3, MariaDB,
// SQLite), and PostgreSQL only (2 onto 3).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"
#include "shard/processes.hpp"

namespace plexus::test {
namespace {

namespace fs = std::filesystem;

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

/// Two layouts of one group: "users" (old, with a control connection) and
/// "users_next" (new, on databases of their own).
struct Layouts {
  DatabaseConfig cfg;
  std::vector<std::string> old_members, new_members;
  std::string ddl_for(const std::string& conn) const {
    const std::string type = types.count(conn) ? types.at(conn) : "sqlite";
    if (type == "mysql")
      return "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) COLLATE utf8mb4_bin NOT NULL, "
             "balance DECIMAL(12,2) NOT NULL, version INT NOT NULL)";
    if (type == "postgres")
      return "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance NUMERIC(12,2) NOT NULL, "
             "version INTEGER NOT NULL)";
    return "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance NUMERIC NOT NULL, version INTEGER NOT NULL)";
  }
  std::map<std::string, std::string> types;
  std::string alias_url;  ///< another connection URL reaching the second old member's database
};

class OnlineReshardTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("plexus_online_reshard_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto lite = [&](const std::string& n) { return sqlite((dir / (n + ".db")).string()); };
    Layouts& l = layouts;
    l.cfg.add("control", lite("control"));
    if (GetParam() == "sqlite") {
      for (int i = 1; i <= 2; ++i) l.old_members.push_back("old_" + std::to_string(i));
      for (int i = 1; i <= 3; ++i) l.new_members.push_back("new_" + std::to_string(i));
      for (const auto& m : l.old_members) l.cfg.add(m, lite(m));
      for (const auto& m : l.new_members) l.cfg.add(m, lite(m));
      l.alias_url = "sqlite://" + (dir / "old_2.db").string();
      rows = 1500;
    } else {
      const std::string pg1 = env("PLEXUS_TEST_PG_SHARD1_URL"), pg2 = env("PLEXUS_TEST_PG_SHARD2_URL"),
                        pg = env("PLEXUS_TEST_PG_URL"), my = env("PLEXUS_TEST_MYSQL_URL");
      if (pg1.empty() || pg2.empty() || pg.empty() || my.empty()) GTEST_SKIP() << "needs the servers: run ./scripts/test";
      // The new layout's databases: one more on each server, and a SQLite file.
      {
        DatabaseConfig admin;
        admin.add("pg1", pg1);
        admin.add("pg2", pg2);
        admin.add("pg", pg);
        admin.add("my", my);
        Database a(admin);
        for (const char* c : {"pg1", "pg2", "pg"}) {
          try {
            a.connection(c).execute("CREATE DATABASE plexus_rs_next");
          } catch (const Error&) {  // made by an earlier run
          }
        }
        a.connection("my").execute("CREATE DATABASE IF NOT EXISTS plexus_rs_old CHARACTER SET utf8mb4");
        a.connection("my").execute("CREATE DATABASE IF NOT EXISTS plexus_rs_next CHARACTER SET utf8mb4");
      }
      auto add = [&](const std::string& name, const std::string& url, const std::string& database, const std::string& type) {
        auto& c = l.cfg.add(name, url);
        if (!database.empty()) c.database = database;
        l.types[name] = type;
      };
      add("old_pg1", pg1, "", "postgres");
      add("old_pg2", pg2, "", "postgres");
      add("old_my", my, "plexus_rs_old", "mysql");
      l.cfg.add("old_lite", lite("old_lite"));
      add("new_pg1", pg1, "plexus_rs_next", "postgres");
      add("new_pg2", pg2, "plexus_rs_next", "postgres");
      add("new_pg", pg, "plexus_rs_next", "postgres");
      add("new_my", my, "plexus_rs_next", "mysql");
      l.cfg.add("new_lite", lite("new_lite"));
      l.old_members = {"old_pg1", "old_pg2", "old_my", "old_lite"};
      l.alias_url = pg2;
      l.new_members = {"new_pg1", "new_pg2", "new_pg", "new_my", "new_lite"};
      if (GetParam() == "postgres") {  // PostgreSQL only: 2 -> 3
        l.old_members = {"old_pg1", "old_pg2"};
        l.new_members = {"new_pg1", "new_pg2", "new_pg"};
      }
      rows = std::atoi(env("PLEXUS_RESHARD_ROWS").empty() ? "20000" : env("PLEXUS_RESHARD_ROWS").c_str());
    }
    auto& g = l.cfg.add_shard_group("users", l.old_members, "hash");
    g.key = "id";
    g.control = "control";
    g.watch_ms = 50;
    l.cfg.add_shard_group("users_next", l.new_members, "hash").key = "id";
    db = std::make_unique<Database>(l.cfg);
    for (const auto& m : l.old_members) recreate(*db, m);
    for (const auto& m : l.new_members) recreate(*db, m);
  }

  void recreate(Database& d, const std::string& m) {
    auto& c = d.connection(m);
    for (const auto& sql : c.grammar().drop_capture_sql("accounts")) c.execute(sql);
    c.execute("DROP TABLE IF EXISTS plexus_reshard_fence");
    c.execute("DROP TABLE IF EXISTS accounts");
    c.execute(layouts.ddl_for(m));
  }

  void TearDown() override {
    if (db && GetParam() != "sqlite") {
      for (const auto& m : layouts.old_members) recreate(*db, m);
    }
    db.reset();
    fs::remove_all(dir);
  }

  void fill() {
    std::vector<Fields> batch;
    for (int id = 1; id <= rows; ++id) {
      batch.push_back({{"id", id}, {"owner", "owner " + std::to_string(id)}, {"balance", "10.50"}, {"version", 0}});
      if (batch.size() == 500 || id == rows) {
        (void)db->shards("users").table("accounts").insert_many(batch);
        batch.clear();
      }
    }
  }

  /// What the application did meanwhile, to compare with where rows ended.
  struct Traffic {
    std::atomic<bool> stop{false};
    std::atomic<int> failed_reads{0}, failed_writes{0}, reads{0}, writes{0};
    std::vector<std::atomic<int>> version;  // per id: the last version acknowledged
    std::atomic<int> next_id;
    std::string first_error;
    std::mutex m;
    void error(const std::string& e) {
      std::lock_guard lock(m);
      if (first_error.empty()) first_error = e;
    }
  };

  /// The traffic's threads, stopped and joined however the test ends.
  struct Running {
    Traffic& t;
    std::vector<std::thread> threads;
    void stop() {
      t.stop = true;
      for (auto& th : threads)
        if (th.joinable()) th.join();
    }
    ~Running() { stop(); }
  };

  /// 4 threads read by key and check each row has at least the version
  /// acknowledged before the read; 2 threads update existing keys and insert
  /// new ones (each writer its own keys), all through the group.
  Running run_traffic(Traffic& t, Database& d, int writers = 2, int readers = 4) {
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
      threads.emplace_back([&t, &d, this, w, writers] {
        std::mt19937 rng(static_cast<unsigned>(w + 1));
        auto& g = d.shards("users");
        while (!t.stop) {
          try {
            if (rng() % 4 == 0) {
              const int id = t.next_id.fetch_add(1);
              if (id >= static_cast<int>(t.version.size())) break;
              g.table("accounts").insert({{"id", id}, {"owner", "new " + std::to_string(id)}, {"balance", "1.25"}, {"version", 1}});
              t.version[static_cast<std::size_t>(id)] = 1;
            } else {
              // Writer w owns the ids of its parity: no two writers race on a row.
              int id = 1 + static_cast<int>(rng() % static_cast<unsigned>(rows));
              if (id % writers != w) id = id + 1 <= rows ? id + 1 : id - 1;
              if (id % writers != w) continue;
              const int v = t.version[static_cast<std::size_t>(id)] + 1;
              const auto n = g.table("accounts").where("id", id).update({{"version", v}, {"balance", std::to_string(v) + ".25"}});
              if (n != 1) throw std::runtime_error("update of id " + std::to_string(id) + " matched " + std::to_string(n));
              t.version[static_cast<std::size_t>(id)] = v;
            }
            ++t.writes;
          } catch (const std::exception& e) {
            ++t.failed_writes;
            t.error(std::string("write: ") + e.what());
          }
        }
      });
    for (int r = 0; r < readers; ++r)
      threads.emplace_back([&t, &d, this, r] {
        std::mt19937 rng(static_cast<unsigned>(100 + r));
        auto& g = d.shards("users");
        while (!t.stop) {
          const int hi = std::min<int>(t.next_id.load(), static_cast<int>(t.version.size())) - 1;
          const int id = 1 + static_cast<int>(rng() % static_cast<unsigned>(hi));
          const int acked = t.version[static_cast<std::size_t>(id)];
          try {
            auto row = g.table("accounts").where("id", id).first();
            if (acked > 0 || id <= rows) {
              if (!row) throw std::runtime_error("id " + std::to_string(id) + " not found");
              if ((*row)["version"].as<int>() < acked)
                throw std::runtime_error("id " + std::to_string(id) + " at version " + (*row)["version"].to_string() +
                                         " after " + std::to_string(acked) + " was acknowledged");
            }
            ++t.reads;
          } catch (const std::exception& e) {
            ++t.failed_reads;
            t.error(std::string("read: ") + e.what());
          }
        }
      });
    return Running{t, std::move(threads)};
  }

  void expect_every_write_once(Database& d, Traffic& t, const std::string& group) {
    // Every row exactly once on the member its layout names, with the last
    // acknowledged version.
    auto& g = d.shards(group);
    std::map<std::int64_t, int> seen;
    for (std::size_t m = 0; m < g.size(); ++m)
      for (Row row : g.member(m).table("accounts").select({"id", "version"}).get()) {
        const auto id = row[0].as<std::int64_t>();
        ++seen[id];
        EXPECT_EQ(g.index_of(Value(id)), m) << "id " << id << " on the wrong member of " << group;
        EXPECT_EQ(row[1].as<int>(), t.version[static_cast<std::size_t>(id)].load()) << "id " << id;
      }
    int expected = 0;
    for (std::size_t id = 1; id < t.version.size(); ++id)
      if (static_cast<int>(id) <= rows || t.version[id] > 0) {
        ++expected;
        EXPECT_EQ(seen[static_cast<std::int64_t>(id)], 1) << "id " << id << " in " << group;
      }
    EXPECT_EQ(static_cast<int>(seen.size()), expected) << group;
  }

  void init_traffic(Traffic& t) {
    t.version = std::vector<std::atomic<int>>(static_cast<std::size_t>(rows) * 2);
    t.next_id = rows + 1;
  }

  fs::path dir;
  Layouts layouts;
  std::unique_ptr<Database> db;
  int rows = 0;
};

TEST_P(OnlineReshardTest, LiveTrafficLosesNothingAndTheSwitchHoldsWritesBriefly) {
  fill();
  Traffic t;
  init_traffic(t);
  auto threads = run_traffic(t, *db);
  OnlineReshard rs(*db, "users");
  const auto began = std::chrono::steady_clock::now();
  auto st = rs.start("users_next", {"accounts"});
  const auto copied = std::chrono::steady_clock::now();
  EXPECT_EQ(st.state, "copied");
  EXPECT_GE(st.rows_copied, static_cast<std::uint64_t>(rows));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto before = rs.verify();
  EXPECT_TRUE(before.ok()) << before.to_string();
  EXPECT_GE(before.keys_compared, static_cast<std::uint64_t>(rows));
  st = rs.switch_traffic();
  EXPECT_EQ(st.state, "switched");
  EXPECT_EQ(st.serving, "users_next");
  EXPECT_GE(st.last_pause_ms, 0);
  EXPECT_LE(st.last_pause_ms, 1000) << "writes were held longer than a second";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // traffic on the new layout
  threads.stop();
  EXPECT_EQ(t.failed_reads, 0) << t.first_error;
  EXPECT_EQ(t.failed_writes, 0) << t.first_error;
  EXPECT_GT(t.writes, 0);
  EXPECT_GT(t.reads, 0);
  std::printf("[ figures  ] %d rows on %zu -> %zu members: copied in %lld ms; writes held %lld ms at the switch; "
              "%d reads and %d writes meanwhile, %d and %d failed\n",
              rows, layouts.old_members.size(), layouts.new_members.size(),
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(copied - began).count()),
              static_cast<long long>(st.last_pause_ms), t.reads.load(), t.writes.load(), t.failed_reads.load(),
              t.failed_writes.load());
  // The group is served by the new layout: reads through it see every write.
  EXPECT_EQ(db->shards("users").size(), layouts.new_members.size());
  expect_every_write_once(*db, t, "users_next");
  const auto after = rs.verify();  // the old layout as it was sealed: what changed since is in flight
  EXPECT_EQ(after.difference_count, 0u) << after.to_string();
  st = rs.complete();
  EXPECT_EQ(st.state, "complete");
  for (const auto& m : layouts.old_members)
    EXPECT_EQ(db->connection(m).table("accounts").count(), 0) << m << " keeps moved rows after complete";
  expect_every_write_once(*db, t, "users_next");
  // A new Database (another process starting now) follows the control row.
  Database later(layouts.cfg);
  EXPECT_EQ(later.shards("users").table("accounts").count(), db->shards("users_next").table("accounts").count());
}

TEST_P(OnlineReshardTest, ReverseAfterTheSwitchRestoresTheOldLayout) {
  fill();
  Traffic t;
  init_traffic(t);
  OnlineReshard rs(*db, "users");
  rs.start("users_next", {"accounts"});
  auto threads = run_traffic(t, *db);
  rs.switch_traffic();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // writes on the new layout only
  auto st = rs.reverse();
  EXPECT_EQ(st.state, "copied");
  EXPECT_EQ(st.serving, "users");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // writes on the old layout again
  threads.stop();
  EXPECT_EQ(t.failed_reads, 0) << t.first_error;
  EXPECT_EQ(t.failed_writes, 0) << t.first_error;
  expect_every_write_once(*db, t, "users");
  const auto v = rs.verify();
  EXPECT_TRUE(v.ok()) << v.to_string();
  EXPECT_EQ(v.in_flight, 0u);
  // And forward again, to the end.
  st = rs.switch_traffic();
  EXPECT_EQ(st.serving, "users_next");
  expect_every_write_once(*db, t, "users_next");
  rs.complete();
}

TEST_P(OnlineReshardTest, InterruptedInEachStateItResumesWithNothingLost) {
  fill();
  // Stopped in the middle of the copy.
  {
    OnlineReshardOptions o;
    o.batch = 100;
    int reports = 0;
    o.progress = [&](const ReshardStatus&) {
      if (++reports == 3) throw std::runtime_error("stopped while copying");
    };
    OnlineReshard rs(*db, "users", o);
    EXPECT_THROW(rs.start("users_next", {"accounts"}), std::runtime_error);
    EXPECT_EQ(rs.status().state, "copying");
  }
  Traffic t;
  init_traffic(t);
  auto threads = run_traffic(t, *db, 2, 2);
  {
    OnlineReshard rs(*db, "users");
    EXPECT_EQ(rs.start("users_next", {"accounts"}).state, "copied");
  }
  // Stopped in the switch after the old layout was sealed: writes stay held
  // until the switch is run again.
  {
    OnlineReshardOptions o;
    bool sealed_seen = false;
    o.progress = [&](const ReshardStatus& s) {
      if (s.state == "switching" && !sealed_seen) {
        sealed_seen = true;
        throw std::runtime_error("stopped while switching");
      }
    };
    o.switch_backlog = 1000000;  // straight to the hold
    OnlineReshard rs(*db, "users", o);
    try {
      (void)rs.switch_traffic();  // with nothing to carry after the seal, no report comes in the middle
    } catch (const std::runtime_error&) {
      EXPECT_TRUE(sealed_seen);
      EXPECT_EQ(rs.status().state, "switching");
      EXPECT_TRUE(rs.status().writes_held);  // until the switch runs again
    }
  }
  {
    OnlineReshardOptions o;
    int reports = 0;
    o.progress = [&](const ReshardStatus& s) {
      if (s.state == "reversing" && ++reports == 1) throw std::runtime_error("stopped while reversing");
    };
    OnlineReshard rs(*db, "users", o);
    auto st = rs.status();
    if (st.state == "switching") st = OnlineReshard(*db, "users").switch_traffic();  // the stopped switch, resumed
    if (st.state == "copied") st = OnlineReshard(*db, "users").switch_traffic();
    EXPECT_EQ(st.state, "switched");
    try {
      (void)rs.reverse();
    } catch (const std::runtime_error&) {
    }
  }
  {
    OnlineReshard rs(*db, "users");
    auto st = rs.status();
    if (st.state == "reversing") st = rs.reverse();
    EXPECT_EQ(st.state, "copied");
    st = rs.switch_traffic();
    EXPECT_EQ(st.state, "switched");
    threads.stop();
    EXPECT_EQ(t.failed_reads, 0) << t.first_error;
    EXPECT_EQ(t.failed_writes, 0) << t.first_error;
    expect_every_write_once(*db, t, "users_next");
    EXPECT_TRUE(rs.verify().ok());
  }
}

TEST_P(OnlineReshardTest, KilledMidCopyItsLeaseLapsesAndAnotherRunnerResumes) {
  fill();
  // A runner killed (SIGKILL: no clean-up) while it copies leaves its lease
  // in the control row: another is refused until it lapses, then resumes.
  const pid_t pid = ::fork();
  if (pid == 0) {
    Database d(layouts.cfg);
    OnlineReshardOptions o;
    o.batch = 20;
    o.lease = std::chrono::milliseconds(3000);
    o.progress = [](const ReshardStatus&) { std::this_thread::sleep_for(std::chrono::milliseconds(30)); };
    OnlineReshard rs(d, "users", o);
    rs.start("users_next", {"accounts"});
    std::_Exit(0);
  }
  OnlineReshard rs(*db, "users");
  for (int i = 0; i < 400 && rs.status().rows_copied == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the runner finished before it was killed";
  EXPECT_EQ(rs.status().state, "copying");
  EXPECT_THROW(rs.start("users_next", {"accounts"}), UsageError);  // its lease still runs
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  EXPECT_EQ(rs.start("users_next", {"accounts"}).state, "copied");
  const auto v = rs.verify();
  EXPECT_TRUE(v.ok()) << v.to_string();
  EXPECT_EQ(rs.switch_traffic().state, "switched");
  EXPECT_EQ(db->shards("users").table("accounts").count(), rows);
}

TEST_P(OnlineReshardTest, AProcessThatHasNotSeenTheSwitchCannotWriteAtTheOldPlace) {
  fill();
  // Another process whose group reads its layout only every 10 s: it has
  // not noticed the switch when it writes.
  DatabaseConfig slow_cfg = layouts.cfg;
  for (auto& g : slow_cfg.shard_groups)
    if (g.name == "users") g.watch_ms = 10000;
  Database slow(slow_cfg);
  EXPECT_EQ(slow.shards("users").table("accounts").where("id", 7).count(), 1);  // reads the layout now
  // And a process whose Database was moved after it was made: its groups follow all the same.
  Database made(layouts.cfg);
  Database moved(std::move(made));
  OnlineReshard rs(*db, "users");
  rs.start("users_next", {"accounts"});
  rs.switch_traffic();
  // Its write reaches the old member and is refused there by the seal, in
  // its own transaction; the group reads its layout again and sends the
  // write to the new member, where it is accepted.
  EXPECT_EQ(slow.shards("users").table("accounts").where("id", 7).update({{"version", 99}}), 1u);
  slow.shards("users").table("accounts").insert({{"id", rows + 5}, {"owner", "x"}, {"balance", "1"}, {"version", 1}});
  EXPECT_EQ((*db->shards("users_next").table("accounts").where("id", 7).first())["version"].as<int>(), 99);
  EXPECT_EQ(db->shards("users_next").table("accounts").where("id", rows + 5).count(), 1);
  // Anything else writing to an old member directly is refused too.
  const std::string old_owner = layouts.old_members[0];
  try {
    (void)slow.connection(old_owner).table("accounts").all_rows().update({{"version", 42}});
    ADD_FAILURE() << "a write at the old place after the switch was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sealed"), std::string::npos) << e.what();
  }
  std::int64_t old_total = 0;
  for (const auto& m : layouts.old_members) old_total += db->connection(m).table("accounts").count();
  EXPECT_EQ(old_total, rows) << "the old layout changed after its seal";
  EXPECT_EQ(moved.shards("users").size(), layouts.new_members.size());
  EXPECT_EQ((*moved.shards("users").table("accounts").where("id", 7).first())["version"].as<int>(), 99);
  for (const auto& m : layouts.old_members)
    EXPECT_EQ(db->connection(m).table("accounts").where("version", ">", 0).count(), 0) << m << " took a write after its seal";
}

// After a reverse the new layout stays sealed: a process that routed a
// write there before the reverse and sends it late (it has not read the
// layout since) is refused and routed again, to the old layout that serves.
// (The reverse used to open the new layout's fence again: under load such a
// late write was accepted there, and the old layout never saw it.)
TEST_P(OnlineReshardTest, AProcessThatHasNotSeenTheReverseCannotWriteAtTheNewPlace) {
  fill();
  OnlineReshard rs(*db, "users");
  rs.start("users_next", {"accounts"});
  rs.switch_traffic();
  DatabaseConfig slow_cfg = layouts.cfg;
  for (auto& g : slow_cfg.shard_groups)
    if (g.name == "users") g.watch_ms = 10000;
  Database slow(slow_cfg);
  EXPECT_EQ(slow.shards("users").table("accounts").where("id", 7).count(), 1);  // reads the layout now: the new one
  EXPECT_EQ(rs.reverse().state, "copied");
  EXPECT_EQ(slow.shards("users").table("accounts").where("id", 7).update({{"version", 77}}), 1u);
  EXPECT_EQ((*db->shards("users").table("accounts").where("id", 7).first())["version"].as<int>(), 77)
      << "the write is where the group is served";
  for (const auto& m : layouts.new_members)
    EXPECT_EQ(db->connection(m).table("accounts").where("version", 77).count(), 0) << m << " took a write after the reverse";
  // Anything writing to a new member directly is refused too; the runner's own carries are not.
  try {
    (void)db->connection(layouts.new_members[0]).table("accounts").all_rows().update({{"version", 42}});
    ADD_FAILURE() << "a write at the new place after the reverse was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sealed"), std::string::npos) << e.what();
  }
  (void)rs.catch_up();
  const auto v = rs.verify();
  EXPECT_TRUE(v.ok()) << v.to_string();
  EXPECT_EQ(rs.switch_traffic().state, "switched");
  EXPECT_EQ((*db->shards("users").table("accounts").where("id", 7).first())["version"].as<int>(), 77);
}

TEST_P(OnlineReshardTest, RefusalsComeBeforeAnythingRuns) {
  fill();
  {
    DatabaseConfig c = layouts.cfg;
    for (auto& g : c.shard_groups) g.control.clear();
    Database no_control(c);
    EXPECT_THROW(OnlineReshard(no_control, "users"), UsageError);
  }
  OnlineReshard rs(*db, "users");
  EXPECT_THROW(rs.start("users", {"accounts"}), UsageError);  // onto itself
  {
    // A new layout sharing a member with the old one, by name and by another name for the same database.
    DatabaseConfig c = layouts.cfg;
    c.add_shard_group("shared", {layouts.new_members[0], layouts.old_members[0]}, "hash").key = "id";
    c.add("alias_of_old", layouts.alias_url);
    c.add_shard_group("aliased", {layouts.new_members[0], "alias_of_old"}, "hash").key = "id";
    Database d(c);
    OnlineReshard r(d, "users");
    try {
      r.start("shared", {"accounts"});
      ADD_FAILURE() << "a shared member was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("also a member of the old one"), std::string::npos) << e.what();
    }
    try {
      r.start("aliased", {"accounts"});
      ADD_FAILURE() << "a second name for an old member's database was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("the same database as old member"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(rs.start("users_next", {}), UsageError);
  EXPECT_THROW(rs.start("users_next", {"no_such_table"}), UsageError);
  EXPECT_THROW(rs.switch_traffic(), UsageError);  // nothing started
  // Nothing ran: no capture, no copies, no control row.
  EXPECT_EQ(rs.status().state, "");
  for (const auto& m : layouts.new_members) EXPECT_EQ(db->connection(m).table("accounts").count(), 0);
  EXPECT_THROW((void)db->connection(layouts.old_members[0]).table("plexus_changes_accounts").count(), Error);
}

TEST_P(OnlineReshardTest, VerifyFindsEveryKindOfDifference) {
  fill();
  OnlineReshard rs(*db, "users");
  rs.start("users_next", {"accounts"});
  auto& next = db->shards("users_next");
  auto& old = db->shards("users");
  // A copy changed behind the workflow's back, a copy deleted, and a row on
  // an old member whose layout places it elsewhere (written around the group).
  ASSERT_EQ(next.member(next.index_of(Value(3))).table("accounts").where("id", 3).update({{"owner", "tampered"}}), 1u);
  ASSERT_EQ(next.member(next.index_of(Value(4))).table("accounts").where("id", 4).remove(), 1u);
  const int stray = rows + 1;
  const std::size_t wrong = (old.index_of(Value(stray)) + 1) % old.size();
  old.member(wrong).table("accounts").insert({{"id", stray}, {"owner", "stray"}, {"balance", "1"}, {"version", 0}});
  const auto v = rs.verify();
  EXPECT_EQ(v.difference_count, 3u) << v.to_string();
  const std::string text = v.to_string();
  EXPECT_NE(text.find("key 3: a row's values differ"), std::string::npos) << text;
  EXPECT_NE(text.find("key 4: missing on"), std::string::npos) << text;
  EXPECT_NE(text.find("key " + std::to_string(stray) + ": on " + layouts.old_members[wrong] + ", where the old layout does not place it"),
            std::string::npos)
      << text;
  EXPECT_EQ(rs.status().differences, 3);
  EXPECT_NE(v.to_json().find("\"difference_count\": 3"), std::string::npos);
}

TEST_P(OnlineReshardTest, TwoApplicationProcessesAndASwitchFromAThirdLoseNoWrite) {
  fill();
  const fs::path stop = dir / "stop";
  // Processes 0 and 1 write by key through their own Database until told to
  // stop, logging each acknowledged write; process 2 runs the reshard.
  const bool ok = in_processes(3, [&](int p) {
    Database d(layouts.cfg);
    if (p == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      OnlineReshard rs(d, "users");
      rs.start("users_next", {"accounts"});
      const auto st = rs.switch_traffic();
      if (st.state != "switched") throw std::runtime_error("switch ended in " + st.state);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      std::ofstream(stop.string()) << "stop\n";
      return;
    }
    std::ofstream log((dir / ("acks_" + std::to_string(p))).string());
    auto& g = d.shards("users");
    std::map<int, int> version;
    for (int i = 0; !fs::exists(stop); ++i) {
      if (i % 3 == 0) {
        const int id = rows + 1 + p * 100000 + i;
        g.table("accounts").insert({{"id", id}, {"owner", "p" + std::to_string(p)}, {"balance", "2.50"}, {"version", 1}});
        log << id << " 1" << std::endl;
      } else {
        const int id = 1 + 2 * ((i * 7919) % (rows / 2)) + p;  // process p owns the ids of its parity
        if (id > rows) continue;
        const int v = ++version[id];
        if (g.table("accounts").where("id", id).update({{"version", v}}) != 1)
          throw std::runtime_error("update of " + std::to_string(id) + " matched no row");
        log << id << " " << v << std::endl;
      }
    }
  });
  ASSERT_TRUE(ok) << "a process failed (its error is printed above)";
  std::map<std::int64_t, int> acked;
  for (int p = 0; p < 2; ++p) {
    std::ifstream in((dir / ("acks_" + std::to_string(p))).string());
    std::int64_t id;
    int v;
    while (in >> id >> v) acked[id] = v;
  }
  ASSERT_GT(acked.size(), 10u);
  auto& next = db->shards("users_next");
  std::map<std::int64_t, int> seen;
  for (std::size_t m = 0; m < next.size(); ++m)
    for (Row row : next.member(m).table("accounts").select({"id", "version"}).get()) {
      const auto id = row[0].as<std::int64_t>();
      EXPECT_EQ(++seen[id], 1) << "id " << id << " twice";
      if (auto it = acked.find(id); it != acked.end()) {
        EXPECT_EQ(row[1].as<int>(), it->second) << "id " << id;
      }
    }
  for (const auto& [id, v] : acked) EXPECT_EQ(seen.count(id), 1u) << "acknowledged id " << id << " is not on the new layout";
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(rows) + std::count_if(acked.begin(), acked.end(), [&](const auto& a) {
                                                              return a.first > rows;
                                                            }));
}

TEST(OnlineReshardMigrations, ASwitchIsRefusedWhileTheLayoutsMigrationsDiffer) {
  // Schemas managed by migrations: a migration run on the old members during
  // the reshard must reach the new ones before the switch.
  const fs::path dir = fs::temp_directory_path() / ("plexus_online_reshard_mig_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "migrations");
  std::ofstream((dir / "migrations" / "0001_items.up.sql").string()) << "CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)";
  std::ofstream((dir / "migrations" / "0001_items.down.sql").string()) << "DROP TABLE items";
  DatabaseConfig cfg;
  cfg.add("control", sqlite((dir / "control.db").string()));
  const std::vector<std::string> old_members{"a1", "a2"}, new_members{"b1", "b2", "b3"};
  for (const auto& m : old_members) cfg.add(m, sqlite((dir / (m + ".db")).string())).migrations = (dir / "migrations").string();
  for (const auto& m : new_members) cfg.add(m, sqlite((dir / (m + ".db")).string())).migrations = (dir / "migrations").string();
  auto& g = cfg.add_shard_group("items", old_members, "modulo");
  g.key = "id";
  g.control = "control";
  g.watch_ms = 20;
  cfg.add_shard_group("items_next", new_members, "modulo").key = "id";
  Database db(cfg);
  auto migrate = [&](const std::vector<std::string>& which) {
    Migrator m(db);
    for (const auto& c : which) ASSERT_NE(m.migrate(c).state, MigrationTarget::State::failed) << c;
  };
  migrate({"a1", "a2", "b1", "b2", "b3"});
  for (int id = 1; id <= 50; ++id) db.shards("items").table("items").insert({{"id", id}, {"v", id}});
  OnlineReshard rs(db, "items");
  rs.start("items_next", {"items"});
  std::ofstream((dir / "migrations" / "0002_w.up.sql").string()) << "ALTER TABLE items ADD COLUMN w INTEGER";
  std::ofstream((dir / "migrations" / "0002_w.down.sql").string()) << "ALTER TABLE items DROP COLUMN w";
  migrate({"a1", "a2"});
  try {
    rs.switch_traffic();
    ADD_FAILURE() << "a switch between layouts with different migrations was let through";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("the switch did not start"), std::string::npos) << e.what();
  }
  EXPECT_EQ(rs.status().state, "copied");
  EXPECT_FALSE(rs.status().writes_held);
  migrate({"b1", "b2", "b3"});
  db.shards("items").table("items").where("id", 3).update({{"w", 7}});
  EXPECT_EQ(rs.switch_traffic().state, "switched");
  EXPECT_EQ((*db.shards("items").table("items").where("id", 3).first())["w"].as<int>(), 7);
  const auto v = rs.verify();
  EXPECT_TRUE(v.ok()) << v.to_string();
  fs::remove_all(dir);
}

TEST_P(OnlineReshardTest, CompleteAndCancelNeverDeleteWhatTheOtherLayoutServes) {
  fill();
  // The configuration changed since the start: the new layout now names an
  // old member (by name, or by a second name for its database). Deleting one
  // side's rows would reach the other's: refused, nothing deleted.
  auto overlapping = [&](const std::string& extra_name, const std::string& extra_url) {
    DatabaseConfig c = layouts.cfg;
    if (!extra_url.empty()) c.add(extra_name, extra_url);
    for (auto& g : c.shard_groups)
      if (g.name == "users_next") g.members.back() = extra_name;
    return c;
  };
  {
    OnlineReshard rs(*db, "users");
    rs.start("users_next", {"accounts"});
  }
  for (const auto& c : {overlapping(layouts.old_members[0], ""), overlapping("alias_of_old", layouts.alias_url)}) {
    Database changed(c);
    EXPECT_THROW(OnlineReshard(changed, "users").cancel(), UsageError);
  }
  OnlineReshard rs(*db, "users");
  rs.switch_traffic();
  for (const auto& c : {overlapping(layouts.old_members[0], ""), overlapping("alias_of_old", layouts.alias_url)}) {
    Database changed(c);
    try {
      OnlineReshard(changed, "users").complete();
      ADD_FAILURE() << "complete deleted with a new layout sharing an old member";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("nothing was done"), std::string::npos) << e.what();
    }
  }
  std::int64_t old_total = 0;
  for (const auto& m : layouts.old_members) old_total += db->connection(m).table("accounts").count();
  EXPECT_EQ(old_total, rows);
  EXPECT_EQ(rs.status().state, "switched");
  EXPECT_EQ(rs.complete().state, "complete");
  EXPECT_EQ(db->shards("users_next").table("accounts").count(), rows);
}

TEST_P(OnlineReshardTest, TwoRunnersAtOnceOneIsRefused) {
  fill();
  OnlineReshardOptions slow;
  slow.batch = 50;
  std::atomic<bool> copying{false};
  slow.progress = [&](const ReshardStatus&) {
    copying = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  std::thread first([&] {
    OnlineReshard rs(*db, "users", slow);
    rs.start("users_next", {"accounts"});
  });
  while (!copying) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  OnlineReshard second(*db, "users");
  try {
    second.start("users_next", {"accounts"});
    ADD_FAILURE() << "a second runner was let in";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("another runner"), std::string::npos) << e.what();
  }
  first.join();
  EXPECT_EQ(second.status().state, "copied");
  EXPECT_TRUE(second.verify().ok());
}

INSTANTIATE_TEST_SUITE_P(Engines, OnlineReshardTest, ::testing::Values("sqlite", "servers", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace plexus::test

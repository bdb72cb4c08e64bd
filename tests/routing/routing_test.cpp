// Read/write splitting, read-your-writes, causal reads and replica failover,
// proven from the server side, on PostgreSQL and MariaDB (primary + replica
// from scripts/servers). These tests stop and start servers, so they hold the
// "replicas" lock in ctest.
#include <gtest/gtest.h>

#include <cmath>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "plexus/plexus.hpp"

using namespace plexus;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

struct Engine {
  std::string name, primary_env, replica_env, halt_primary, halt_replica;
  std::string pause_replay, resume_replay;  // run on the replica itself
  std::string is_replica_sql;  // true/1 on the replica, false/0 on the primary
  std::string id_column, sleep_sql;
};

Engine engine(const std::string& name) {
  if (name == "postgres")
    return {name, "PLEXUS_TEST_PG_URL", "PLEXUS_TEST_PG_REPLICA_URL", "pg-primary", "pg-replica",
            "SELECT pg_wal_replay_pause()", "SELECT pg_wal_replay_resume()",
            "SELECT pg_is_in_recovery()", "BIGSERIAL PRIMARY KEY", "SELECT pg_sleep(0.3)"};
  return {name, "PLEXUS_TEST_MYSQL_URL", "PLEXUS_TEST_MYSQL_REPLICA_URL", "my-primary", "my-replica",
          "STOP SLAVE SQL_THREAD", "START SLAVE SQL_THREAD",
          "SELECT @@read_only", "BIGINT AUTO_INCREMENT PRIMARY KEY", "SELECT SLEEP(0.3)"};
}

std::string env(const std::string& k) {
  const char* v = std::getenv(k.c_str());
  return v ? v : "";
}

void servers(const std::string& verb, const std::string& name) {
  std::string script = env("PLEXUS_SERVERS_SCRIPT");
  ASSERT_FALSE(script.empty());
  int rc = std::system((script + " " + verb + " " + name + " >/dev/null 2>&1").c_str());
  ASSERT_EQ(rc, 0) << verb << " " << name;
}

class Routing : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    e = engine(GetParam());
    primary_url = env(e.primary_env);
    replica_url = env(e.replica_env);
    if (primary_url.empty() || replica_url.empty() || env("PLEXUS_SERVERS_SCRIPT").empty())
      GTEST_SKIP() << e.primary_env << " / " << e.replica_env << " / PLEXUS_SERVERS_SCRIPT not set: run ./scripts/test";
    table = "routing_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()).substr(0, 30);
    for (auto& c : table) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    table += "_" + e.name;
    db = open();
    auto& c = db->connection("app");
    c.execute("DROP TABLE IF EXISTS " + table);
    c.execute("CREATE TABLE " + table + " (id " + e.id_column + ", v INTEGER NOT NULL)");
    wait_replicated();
  }
  void TearDown() override {
    if (!db) return;
    db.reset();  // its hooks captured the test body's locals
    try {
      open()->connection("app").execute("DROP TABLE IF EXISTS " + table);
    } catch (...) {
    }
  }

  std::unique_ptr<Database> open(const std::function<void(ConnectionConfig&)>& tweak = {}) {
    DatabaseConfig cfg;
    auto& c = cfg.add("app", primary_url);
    c.read_hosts = parse_url(replica_url).hosts;
    c.replica_cooldown = milliseconds(300);
    c.pool.acquire_timeout = milliseconds(3000);
    c.options["connect_timeout"] = "2";
    if (tweak) tweak(c);
    return std::make_unique<Database>(cfg);
  }

  /// Until the replica has the table (DDL replays asynchronously).
  void wait_replicated() {
    auto& c = db->connection("app");
    for (int i = 0; i < 200; ++i) {
      try {
        (void)c.on_replica().select("SELECT count(*) FROM " + table);
        return;
      } catch (const Error&) {
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }

  bool served_by_replica(Queryable& q) { return q.scalar(e.is_replica_sql).as<bool>(); }
  /// After a primary restart: until a causal read is served by the replica again.
  void wait_until_streaming(Connection& c);

  Engine e;
  std::string primary_url, replica_url, table;
  std::unique_ptr<Database> db;
};

}  // namespace

TEST_P(Routing, ReadsGoToTheReplicaAndWritesToThePrimary) {
  auto& c = db->connection("app");
  std::vector<std::string> roles;
  c.on_after_query([&](const QueryEvent& ev) { roles.emplace_back(ev.role); });
  EXPECT_TRUE(served_by_replica(c)) << "a read ran on the primary";
  EXPECT_FALSE(c.query(e.is_replica_sql, {}, Intent::write)[0][0].as<bool>()) << "a write ran on a replica";
  EXPECT_FALSE(c.on_primary().scalar(e.is_replica_sql).as<bool>());
  EXPECT_TRUE(c.on_replica().scalar(e.is_replica_sql).as<bool>());
  EXPECT_EQ(roles, (std::vector<std::string>{"replica", "primary", "primary", "replica"}));
  // Everything in a transaction is on the primary, reads included.
  c.transaction([&](Transaction& tx) { EXPECT_FALSE(tx.scalar(e.is_replica_sql).as<bool>()); });
}

TEST_P(Routing, ABuilderOrPreparedQueryKeptFromARoutedViewRunsWhereItSaid) {
  auto& c = db->connection("app");
  // The routed views are temporaries; what they made is kept and run later.
  const auto is_replica = raw(e.is_replica_sql.substr(std::string_view("SELECT ").size()));
  auto on_primary = c.on_primary().table(table).select({is_replica});
  auto on_replica = c.on_replica().table(table).select({is_replica});
  auto prepared = c.on_replica().table(table).select({is_replica}).prepare();
  c.execute("INSERT INTO " + table + " (v) VALUES (1)");
  std::optional<Record> replica_row;
  for (int i = 0; i < 100 && !replica_row; ++i) {
    replica_row = on_replica.first();
    if (!replica_row) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(replica_row.has_value()) << "the row never reached the replica";
  EXPECT_TRUE((*replica_row)[0].as<bool>());
  EXPECT_FALSE((*on_primary.first())[0].as<bool>());
  EXPECT_TRUE((*prepared.first())[0].as<bool>());
}

TEST_P(Routing, StrategiesSpreadReadsOverHosts) {
  // The primary doubles as a second read host so each read's server says where it ran.
  auto rr = open([&](ConnectionConfig& c) { c.read_hosts.push_back(c.hosts.front()); });
  int on_replica = 0;
  for (int i = 0; i < 10; ++i) on_replica += served_by_replica(rr->connection("app")) ? 1 : 0;
  EXPECT_EQ(on_replica, 5) << "round_robin alternates";

  auto weighted = open([&](ConnectionConfig& c) {
    c.load_balance = "weighted";
    c.read_hosts.front().weight = 9;
    Endpoint p = c.hosts.front();
    p.weight = 1;
    c.read_hosts.push_back(p);
  });
  on_replica = 0;
  for (int i = 0; i < 200; ++i) on_replica += served_by_replica(weighted->connection("app")) ? 1 : 0;
  EXPECT_GT(on_replica, 150) << "weight 9:1";
  EXPECT_LT(on_replica, 200);

  auto least = open([&](ConnectionConfig& c) {
    c.load_balance = "least_outstanding";
    c.read_hosts.push_back(c.hosts.front());
  });
  auto& lc = least->connection("app");
  std::thread slow([&] { (void)lc.select(e.sleep_sql); });  // keeps the first read host busy
  // Wait until the slow read holds its session (a sanitizer build connects slowly).
  for (int i = 0; i < 400 && lc.replica_pool_stats(0).in_use == 0; ++i) std::this_thread::sleep_for(milliseconds(5));
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(served_by_replica(lc)) << "least_outstanding avoids the busy host";
  slow.join();
}

TEST_P(Routing, StickyUnitOfWorkReadsItsOwnWrites) {
  auto& c = db->connection("app");
  std::string route;
  c.on_after_query([&](const QueryEvent& ev) { route = std::string(ev.route) + "@" + std::string(ev.role); });
  UnitOfWork uow(Consistency::sticky);
  auto scoped = c.with(uow);
  EXPECT_TRUE(served_by_replica(scoped)) << "before any write, reads use replicas";
  for (int i = 1; i <= 20; ++i) {
    scoped.execute("INSERT INTO " + table + " (v) VALUES (?)", {i});
    EXPECT_EQ(scoped.scalar("SELECT count(*) FROM " + table).as<int>(), i);
    EXPECT_EQ(route, "read: sticky (this unit wrote)@primary");
  }
  UnitOfWork other;  // another request: its reads still go to replicas
  auto other_scope = c.with(other);
  EXPECT_TRUE(served_by_replica(other_scope));
}

TEST_P(Routing, CausalUnitOfWorkReadsFromACaughtUpReplica) {
  auto& c = db->connection("app");
  std::string route;
  int on_replica = 0;
  c.on_after_query([&](const QueryEvent& ev) {
    route = std::string(ev.route);
    if (ev.role == "replica" && ev.sql.find("count") != std::string_view::npos) ++on_replica;
  });
  UnitOfWork uow(Consistency::causal);
  auto scoped = c.with(uow);
  for (int i = 1; i <= 20; ++i) {
    scoped.execute("INSERT INTO " + table + " (v) VALUES (?)", {i});
    EXPECT_EQ(scoped.scalar("SELECT count(*) FROM " + table).as<int>(), i) << "causal read missed its own write";
    EXPECT_TRUE(route.starts_with("read: causal")) << route;
  }
  EXPECT_GT(on_replica, 10) << "caught-up replicas should serve most causal reads";
  // Writes in a transaction count too.
  c.with(uow).transaction([&](Transaction& tx) { tx.execute("INSERT INTO " + table + " (v) VALUES (99)"); });
  EXPECT_EQ(scoped.scalar("SELECT count(*) FROM " + table + " WHERE v = 99").as<int>(), 1);
}

TEST_P(Routing, CausalIsTheConnectionDefaultWhenConfigured) {
  auto causal = open([](ConnectionConfig& c) { c.causal = true; });
  auto& c = causal->connection("app");
  UnitOfWork uow;  // Consistency::from_config
  for (int i = 1; i <= 5; ++i) {
    c.with(uow).execute("INSERT INTO " + table + " (v) VALUES (?)", {i});
    EXPECT_EQ(c.with(uow).scalar("SELECT count(*) FROM " + table).as<int>(), i);
  }
}

TEST_P(Routing, MaxReplicaLagSkipsLaggingReplicas) {
  auto strict = open([](ConnectionConfig& c) { c.max_replica_lag = milliseconds(60000); });
  EXPECT_TRUE(served_by_replica(strict->connection("app"))) << "an idle replica is within a minute";
  auto health = strict->connection("app").health();
  ASSERT_EQ(health.hosts.size(), 2u);
  ASSERT_TRUE(health.hosts[1].lag.has_value());
  EXPECT_LT(*health.hosts[1].lag, milliseconds(60000));
}

TEST_P(Routing, LaggingReplicaIsSkippedUntilItCatchesUp) {
  auto strict = open([](ConnectionConfig& c) { c.max_replica_lag = milliseconds(200); });
  auto& c = strict->connection("app");
  DatabaseConfig direct_cfg;
  direct_cfg.add("replica_itself", replica_url);
  Database direct(direct_cfg);
  auto& replica = direct.connection("replica_itself");
  replica.execute(e.pause_replay);
  c.execute("INSERT INTO " + table + " (v) VALUES (1)");
  std::this_thread::sleep_for(milliseconds(1200));  // > max lag, and > the lag re-check interval
  bool skipped = !served_by_replica(c);
  const auto h = c.health();
  const double lag_metric = strict->metrics().value("plexus_replica_lag_seconds", {{"connection", "app"}});
  replica.execute(e.resume_replay);
  EXPECT_TRUE(skipped) << "a replica whose replay is paused must be skipped";
  ASSERT_EQ(h.hosts.size(), 2u);
  EXPECT_TRUE(h.hosts[1].lagging) << "health() shows the replica as lagging";
  EXPECT_EQ(h.status(), "degraded");
  EXPECT_TRUE(std::isnan(lag_metric) || lag_metric > 0.2) << "the lag metric is unknown or past max_lag: " << lag_metric;
  bool back = false;
  for (int i = 0; i < 50 && !back; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    back = served_by_replica(c);
  }
  EXPECT_TRUE(back) << "the replica serves reads again once it caught up";
}

TEST_P(Routing, ReplicaDownFailsNoReadAndComesBack) {
  auto& c = db->connection("app");
  std::vector<std::string> warnings;
  c.on_warning([&](const std::string& w) { warnings.push_back(w); });
  int failed = 0, ok = 0;
  auto read = [&] {
    try {
      (void)c.select("SELECT count(*) FROM " + table);
      // Typed reads fail over too: the dead replica fails before any row is handed over.
      EXPECT_EQ(c.select_as<std::tuple<std::int64_t>>("SELECT count(*) FROM " + table).size(), 1u);
      ++ok;
    } catch (const Error& err) {
      ADD_FAILURE() << err.what();
      ++failed;
    }
  };
  for (int i = 0; i < 20; ++i) read();
  servers("halt", e.halt_replica);
  for (int i = 0; i < 50; ++i) read();
  EXPECT_FALSE(served_by_replica(c)) << "reads fell back to the primary";
  EXPECT_FALSE(warnings.empty()) << "the ejection is reported";
  servers("resume", e.halt_replica);
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    try {
      back = served_by_replica(c);
    } catch (const Error& err) {
      ADD_FAILURE() << err.what();
    }
  }
  EXPECT_TRUE(back) << "reads returned to the restarted replica";
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(ok, 70);
}

TEST_P(Routing, PrimaryDownWritesFailFastReadsGoOn) {
  auto& c = db->connection("app");
  c.execute("INSERT INTO " + table + " (v) VALUES (1)");
  servers("halt", e.halt_primary);
  auto start = steady_clock::now();
  try {
    c.execute("INSERT INTO " + table + " (v) VALUES (2)");
    ADD_FAILURE() << "a write succeeded with the primary down";
  } catch (const ConnectionError& err) {
    EXPECT_EQ(err.connection(), "app");
    EXPECT_EQ(err.role(), "primary");
  }
  EXPECT_LT(steady_clock::now() - start, seconds(3)) << "writes must fail fast";
  int reads = 0;
  for (int i = 0; i < 10; ++i) reads += c.scalar("SELECT count(*) FROM " + table).as<int>() >= 0 ? 1 : 0;
  EXPECT_EQ(reads, 10) << "reads go on from the replica";
  servers("resume", e.halt_primary);
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    try {
      c.execute("INSERT INTO " + table + " (v) VALUES (3)");
      back = true;
    } catch (const Error&) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  EXPECT_TRUE(back) << "writes work again once the primary is back";
  wait_until_streaming(c);
}

TEST_P(Routing, AfterAPrimaryRestartStalePooledSessionsNeverFailAStatement) {
  // Four sessions idle in the pool when the primary restarts.
  auto warm = open([](ConnectionConfig& c) {
    c.pool.min = 4;
    c.pool.max = 4;
  });
  auto& c = warm->connection("app");
  c.warm_up();
  ASSERT_EQ(c.pool_stats().open, 4u);
  EXPECT_TRUE(c.is_connected());
  servers("halt", e.halt_primary);
  EXPECT_FALSE(c.is_connected()) << "the primary is down";
  servers("resume", e.halt_primary);
  // Wait for the primary from another Database, so this pool stays as it was.
  for (int i = 0; i < 100; ++i) {
    try {
      (void)open()->connection("app").on_primary().scalar("SELECT 1");
      break;
    } catch (const Error&) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  int failed = 0;
  for (int i = 0; i < 8; ++i) {
    try {
      c.execute("INSERT INTO " + table + " (v) VALUES (?)", {i});
      (void)c.on_primary().scalar("SELECT count(*) FROM " + table);
    } catch (const Error& err) {
      ++failed;
      ADD_FAILURE() << "statement " << i << " failed on a stale session: " << err.what();
    }
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(c.on_primary().scalar("SELECT count(*) FROM " + table).as<int>(), 8) << "every write landed once";
  EXPECT_TRUE(c.is_connected());
  wait_until_streaming(c);
}

TEST_P(Routing, ServerKilledMidQueryIsAClearErrorNotAHang) {
  auto& c = db->connection("app");
  std::string error;
  auto start = steady_clock::now();
  std::thread slow([&] {
    try {
      (void)c.on_primary().select(e.name == "postgres" ? "SELECT pg_sleep(10)" : "SELECT SLEEP(10)");
    } catch (const Error& err) {
      error = err.what();
      EXPECT_TRUE(err.is_connection_error() || err.is_timeout()) << err.what();
    }
  });
  std::this_thread::sleep_for(milliseconds(300));
  servers("halt", e.halt_primary);
  slow.join();
  EXPECT_LT(steady_clock::now() - start, seconds(6)) << "the query hung after its server went away";
  EXPECT_NE(error.find("connection 'app'"), std::string::npos) << error;
  servers("resume", e.halt_primary);
  for (int i = 0; i < 100; ++i) {
    try {
      c.execute("INSERT INTO " + table + " (v) VALUES (1)");
      break;
    } catch (const Error&) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  wait_until_streaming(c);
}

void Routing::wait_until_streaming(Connection& c) {
  // Leave the pair as found: the replica streams from the restarted primary again.
  UnitOfWork uow(Consistency::causal);
  bool streaming = false;
  std::string route;
  c.on_after_query([&](const QueryEvent& ev) { route = std::string(ev.route); });
  for (int i = 0; i < 150 && !streaming; ++i) {
    c.with(uow).execute("INSERT INTO " + table + " (v) VALUES (4)");
    (void)c.with(uow).scalar("SELECT count(*) FROM " + table);
    streaming = route == "read: causal (replica caught up)";
    if (!streaming) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_TRUE(streaming) << "the replica did not resume replication";
}

TEST_P(Routing, PoolExhaustionIsATimeoutNamingTheConnection) {
  auto tiny = open([](ConnectionConfig& c) {
    c.pool.max = 2;
    c.pool.acquire_timeout = milliseconds(100);
  });
  auto& c = tiny->connection("app");
  auto t1 = c.begin();
  auto t2 = c.begin();
  try {
    (void)c.begin();
    FAIL();
  } catch (const TimeoutError& err) {
    std::string w = err.what();
    EXPECT_NE(w.find("connection 'app'"), std::string::npos) << w;
    EXPECT_NE(w.find("open 2/2, in use 2"), std::string::npos) << w;
  }
  t1.rollback();
  t2.rollback();
}

TEST_P(Routing, SixteenThreadsMixedQueriesOnAPoolOfFour) {
  auto busy = open([](ConnectionConfig& c) {
    c.pool.max = 4;
    c.pool.acquire_timeout = milliseconds(30000);
  });
  auto& c = busy->connection("app");
  constexpr int kThreads = 16, kOps = 2000;
  std::atomic<int> writes{0}, reads{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        try {
          if (i % 4 == 0) {
            c.execute("INSERT INTO " + table + " (v) VALUES (?)", {t});
            ++writes;
          } else {
            (void)c.scalar("SELECT count(*) FROM " + table + " WHERE v = ?", {t});
            ++reads;
          }
        } catch (const Error& err) {
          if (++errors == 1) ADD_FAILURE() << err.what();
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(writes.load(), kThreads * kOps / 4);
  EXPECT_EQ(reads.load(), kThreads * kOps * 3 / 4);
  EXPECT_EQ(c.on_primary().scalar("SELECT count(*) FROM " + table).as<int>(), kThreads * kOps / 4);
  EXPECT_LE(c.pool_stats().open, 4u);
  EXPECT_LE(c.replica_pool_stats(0).open, 4u);
}

TEST_P(Routing, ReadOnlyConnectionsAreReadOnlyOnTheServerToo) {
  auto ro = open([](ConnectionConfig& c) {
    c.read_only = true;
    c.read_hosts.clear();
  });
  auto& c = ro->connection("app");
  EXPECT_THROW(c.execute("INSERT INTO " + table + " (v) VALUES (1)"), ReadOnlyError);
  // Disguised as a read, the write reaches the server, which refuses it too.
  EXPECT_THROW(c.query("INSERT INTO " + table + " (v) VALUES (1)", {}, Intent::read), ReadOnlyError);
  // Inside a (read-only) transaction, insert_get_id is refused before it reaches the server.
  try {
    c.transaction([&](Transaction& tx) { (void)tx.table(table).insert_get_id({{"v", 1}}); });
    FAIL();
  } catch (const ReadOnlyError& err) {
    EXPECT_NE(std::string(err.what()).find("configured read_only"), std::string::npos) << err.what();
  }
  EXPECT_EQ(db->connection("app").on_primary().scalar("SELECT count(*) FROM " + table).as<int>(), 0);
}

TEST_P(Routing, LeakWarningNamesTheConnection) {
  auto leaky = open([](ConnectionConfig& c) { c.pool.leak_warning = milliseconds(20); });
  auto& c = leaky->connection("app");
  std::string warning;
  c.on_warning([&](const std::string& w) { warning = w; });
  {
    auto tx = c.begin();
    std::this_thread::sleep_for(milliseconds(60));
    tx.rollback();
  }
  EXPECT_NE(warning.find("connection 'app'"), std::string::npos) << warning;
  EXPECT_NE(warning.find("leak_warning_ms"), std::string::npos) << warning;
}

INSTANTIATE_TEST_SUITE_P(Engines, Routing, ::testing::Values("postgres", "mysql"),
                         [](const auto& p) { return p.param; });

// ---- no server needed --------------------------------------------------------

TEST(GlobalCap, ClosesLeastRecentlyUsedIdlePoolsAndReopensThem) {
  auto dir = fs::temp_directory_path() / ("plexus_cap_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  DatabaseConfig cfg;
  cfg.max_connections = 3;
  for (int i = 0; i < 6; ++i) cfg.add("tenant" + std::to_string(i), sqlite((dir / ("t" + std::to_string(i) + ".db")).string()));
  Database db(cfg);
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 6; ++i) {
      auto& c = db.connection("tenant" + std::to_string(i));
      c.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)");
      c.execute("INSERT INTO t VALUES (?)", {round});
      EXPECT_LE(db.open_sessions(), 3u);
    }
  EXPECT_EQ(db.connection("tenant0").pool_stats().open, 0u) << "the least recently used pools were closed";
  EXPECT_GT(db.connection("tenant5").pool_stats().open, 0u);
  EXPECT_EQ(db.connection("tenant0").scalar("SELECT count(*) FROM t").as<int>(), 2) << "and reopen on next use";
  EXPECT_LE(db.open_sessions(), 3u);
  fs::remove_all(dir);
}

TEST(GlobalCap, WaitsThenTimesOutWhenEverySessionIsBusy) {
  auto dir = fs::temp_directory_path() / ("plexus_cap2_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  DatabaseConfig cfg;
  cfg.max_connections = 1;
  cfg.add("a", sqlite((dir / "a.db").string()));
  auto& b = cfg.add("b", sqlite((dir / "b.db").string()));
  b.pool.acquire_timeout = milliseconds(100);
  Database db(cfg);
  auto held = db.connection("a").begin();
  try {
    (void)db.connection("b").select("SELECT 1");
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("max_connections = 1"), std::string::npos) << e.what();
  }
  held.rollback();
  EXPECT_EQ(db.connection("b").scalar("SELECT 1").as<int>(), 1);
  fs::remove_all(dir);
}

// A MariaDB Galera cluster of three nodes (scripts/servers) as one
// connection: writes on one node, reads spread over the others, causal reads
// through wsrep_sync_wait, certification conflicts retried, a node that is
// not Synced left out, two-phase commit refused, and a node killed under load
// with no acknowledged write lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "plexus/plexus.hpp"
#include "routing/mixed_load.hpp"

using namespace plexus;
using namespace std::chrono_literals;

namespace {

std::string env(const char* k) { return test::env_var(k); }
int servers(const std::string& args) { return test::servers(args, "/tmp/plexus-galera-servers.log"); }

class Galera : public ::testing::Test {
 protected:
  void SetUp() override {
    url = env("PLEXUS_TEST_GALERA_URL");
    if (url.empty() || env("PLEXUS_SERVERS_SCRIPT").empty())
      GTEST_SKIP() << "PLEXUS_TEST_GALERA_URL not set: run ./scripts/test (needs galera-4)";
    db = open();
    auto& c = db->connection("galera");
    c.execute("DROP TABLE IF EXISTS galera_t");
    c.execute("CREATE TABLE galera_t (id BIGINT PRIMARY KEY, v INT NOT NULL)");
  }
  std::unique_ptr<Database> open(const std::function<void(DatabaseConfig&)>& tweak = {}) {
    DatabaseConfig cfg;
    auto& c = cfg.add("galera", url);
    c.replica_cooldown = 300ms;
    c.failover_wait = 10s;
    c.options["connect_timeout"] = "2";
    if (tweak) tweak(cfg);
    auto out = std::make_unique<Database>(cfg);
    out->on_after_query([this](const QueryEvent& e) {
      std::lock_guard lock(m);
      (e.intent == Intent::read ? read_hosts : write_hosts).insert(std::string(e.host));
      routes.emplace_back(e.route);
    });
    return out;
  }
  /// A connection to one node only.
  Connection& node(Database& d, int i) { return d.connection("g" + std::to_string(i)); }
  void clear() {
    std::lock_guard lock(m);
    read_hosts.clear();
    write_hosts.clear();
    routes.clear();
  }
  std::string url;
  std::unique_ptr<Database> db;
  std::mutex m;
  std::set<std::string> read_hosts, write_hosts;
  std::vector<std::string> routes;
};

std::string port_url(const std::string& url, int port) {
  // mysql://user:pw@h:p1,h:p2,h:p3/plexus -> the same with one host
  const auto at = url.find('@'), slash = url.find('/', at);
  return url.substr(0, at + 1) + "127.0.0.1:" + std::to_string(port) + url.substr(slash);
}

}  // namespace

TEST_F(Galera, WritesGoToOneNodeAndReadsSpreadOverTheOthers) {
  auto& c = db->connection("galera");
  clear();
  for (int i = 0; i < 10; ++i) c.execute("INSERT INTO galera_t (id, v) VALUES (?, ?)", {i, i});
  for (int i = 0; i < 10; ++i) (void)c.scalar("SELECT COUNT(*) FROM galera_t");
  EXPECT_EQ(write_hosts, (std::set<std::string>{"127.0.0.1:23310"}));
  EXPECT_EQ(read_hosts, (std::set<std::string>{"127.0.0.1:23311", "127.0.0.1:23312"}));
  const auto h = c.health();
  EXPECT_EQ(h.status(), "healthy");
  ASSERT_EQ(h.hosts.size(), 3u);
  EXPECT_EQ(h.hosts[0].role, "primary");
}

TEST_F(Galera, CausalReadsWaitThroughWsrepSyncWait) {
  auto& c = db->connection("galera");
  for (int i = 0; i < 20; ++i) {
    UnitOfWork uow(Consistency::causal);
    c.with(uow).execute("INSERT INTO galera_t (id, v) VALUES (?, 1)", {100 + i});
    EXPECT_EQ(c.with(uow).scalar("SELECT COUNT(*) FROM galera_t WHERE id = ?", {100 + i}).as<std::int64_t>(), 1)
        << "a causal read after a write sees it, on another node";
    EXPECT_EQ(routes.back(), "read: causal (replica caught up)");
  }
}

TEST_F(Galera, ACertificationConflictIsRetryableAndTheRetryPolicyRunsItAgain) {
  DatabaseConfig cfg;
  cfg.add("g1", port_url(url, 23310));
  cfg.add("g2", port_url(url, 23311));
  Database pinned(cfg);
  node(pinned, 1).execute("INSERT INTO galera_t (id, v) VALUES (1, 0)");
  // Applied on the other node too before the race begins (another node
  // applies a commit a moment after it returns).
  for (int i = 0; i < 200 && node(pinned, 2).scalar("SELECT COUNT(*) FROM galera_t WHERE id = 1").as<std::int64_t>() == 0;
       ++i)
    std::this_thread::sleep_for(5ms);
  TransactionOptions opts;
  opts.retry.attempts = 4;
  int runs = 0;
  node(pinned, 1).transaction(
      [&](Transaction& tx) {
        ++runs;
        tx.execute("UPDATE galera_t SET v = v + 1 WHERE id = 1");
        // Another node commits a change to the same row first: this commit
        // fails certification (a deadlock error, 1213) the first time.
        if (runs == 1) node(pinned, 2).execute("UPDATE galera_t SET v = v + 10 WHERE id = 1");
      },
      opts);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(pinned.metrics().value("plexus_transaction_retries_total", {{"connection", "g1"}}), 1);
  EXPECT_EQ(node(pinned, 1).scalar("SELECT v FROM galera_t WHERE id = 1").as<std::int64_t>(), 11);
}

TEST_F(Galera, TwoPhaseCommitIsRefusedNamingTheConnection) {
  auto d = open([](DatabaseConfig& cfg) { cfg.add("local", sqlite(":memory:")); });
  int ran = 0;
  try {
    d->transaction({"galera", "local"}, [&](GlobalTransaction&) { ++ran; });
    FAIL() << "a Galera connection joined a two-phase commit";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("connection 'galera'"), std::string::npos) << what;
    EXPECT_NE(what.find("Galera refuses XA"), std::string::npos) << what;
  }
  EXPECT_EQ(ran, 0);
  // On its own, a Galera transaction is fine.
  d->connection("galera").transaction([](Transaction& tx) { tx.execute("INSERT INTO galera_t (id, v) VALUES (500, 1)"); });
}

TEST_F(Galera, ANodeThatIsNotSyncedIsLeftOutOfReads) {
  DatabaseConfig cfg;
  cfg.add("g3", port_url(url, 23312));
  Database pinned(cfg);
  auto& c = db->connection("galera");
  for (int i = 0; i < 4; ++i) (void)c.scalar("SELECT 1");
  node(pinned, 3).execute("SET GLOBAL wsrep_desync = ON");  // g3: Donor/Desynced
  std::this_thread::sleep_for(600ms);                       // past the readiness re-check
  clear();
  for (int i = 0; i < 10; ++i) (void)c.scalar("SELECT 1");
  const auto desynced = read_hosts;
  const auto h = c.health();
  node(pinned, 3).execute("SET GLOBAL wsrep_desync = OFF");
  EXPECT_EQ(desynced, (std::set<std::string>{"127.0.0.1:23311"})) << "the desynced node served reads";
  EXPECT_EQ(h.status(), "degraded");
  std::this_thread::sleep_for(600ms);
  clear();
  for (int i = 0; i < 10; ++i) (void)c.scalar("SELECT 1");
  EXPECT_TRUE(read_hosts.contains("127.0.0.1:23312")) << "a node Synced again serves reads again";
}

TEST_F(Galera, ANodeKilledUnderLoadLosesNoAcknowledgedWriteAndRejoins) {
  auto& c = db->connection("galera");
  test::MixedLoad load([&](std::int64_t id) { c.execute("INSERT INTO galera_t (id, v) VALUES (?, 1)", {id}); },
                       [&] { (void)c.scalar("SELECT COUNT(*) FROM galera_t"); }, 1000);
  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(servers("halt galera-g1"), 0) << "kill -9 of the node taking writes";
  std::this_thread::sleep_for(1500ms);
  load.stop();
  std::cout << "[ figures  ] node killed: " << load.figures() << "\n";
  EXPECT_GT(load.reads.load(), 100) << "reads kept answering";
  EXPECT_EQ(db->metrics().value("plexus_failovers_total", {{"connection", "galera"}}), 1);

  std::set<std::int64_t> present;
  const auto rows = c.on_primary().select("SELECT id FROM galera_t WHERE id >= 1000");
  for (std::size_t i = 0; i < rows.size(); ++i) present.insert(rows[i][0].as<std::int64_t>());
  EXPECT_EQ(load.lost(present), 0u) << "acknowledged writes lost when a node died";

  // The node rejoins (recovered position, IST) and serves reads again.
  ASSERT_EQ(servers("resume galera-g1"), 0) << "see /tmp/plexus-galera-servers.log";
  bool used = false;
  for (int i = 0; i < 60 && !used; ++i) {
    std::this_thread::sleep_for(100ms);
    clear();
    for (int k = 0; k < 6; ++k) {
      try {
        (void)c.scalar("SELECT 1");
      } catch (const Error&) {
      }
    }
    std::lock_guard lock(m);
    used = read_hosts.contains("127.0.0.1:23310");
  }
  EXPECT_TRUE(used) << "the rejoined node serves reads";
}

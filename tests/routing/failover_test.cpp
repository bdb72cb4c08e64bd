// Following a promotion on real PostgreSQL servers: a primary and its
// streaming standby of their own (scripts/servers failover-pair), one
// connection listing both as primary candidates. A writer thread and four
// reader threads run while the primary is stopped and the standby promoted;
// every acknowledged write must be on the new primary exactly once, writes
// must resume within a bounded time, and the old primary, rebuilt as a
// standby, serves reads again.
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
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

std::string env(const char* k) { return test::env_var(k); }
int servers(const std::string& args) { return test::servers(args, "/tmp/plexus-failover-servers.log"); }

}  // namespace

TEST(Failover, WritesFollowAPromotionWithNoAcknowledgedWriteLost) {
  const std::string url = env("PLEXUS_TEST_PG_FAILOVER_URL");
  if (url.empty() || env("PLEXUS_SERVERS_SCRIPT").empty())
    GTEST_SKIP() << "PLEXUS_TEST_PG_FAILOVER_URL / PLEXUS_SERVERS_SCRIPT not set: run ./scripts/test";
  ASSERT_EQ(servers("failover-pair"), 0) << "scripts/servers failover-pair failed (see /tmp/plexus-failover-servers.log)";

  DatabaseConfig cfg;
  auto& c = cfg.add("app", url);
  c.failover_wait = 15s;
  c.replica_cooldown = 200ms;
  c.pool.max = 8;
  c.options["connect_timeout"] = "2";
  Database db(cfg);
  auto& app = db.connection("app");
  ASSERT_EQ(app.config().hosts.size(), 2u);
  app.execute("DROP TABLE IF EXISTS failover_log");
  app.execute("CREATE TABLE failover_log (id BIGINT PRIMARY KEY)");
  std::mutex hosts_mutex;
  std::set<std::string> read_hosts;
  db.on_after_query([&](const QueryEvent& e) {
    if (e.intent == Intent::read && e.role == "replica") {
      std::lock_guard lock(hosts_mutex);
      read_hosts.insert(std::string(e.host));
    }
  });

  // The standby has replayed the table before the load starts: a read there
  // would otherwise fail with "relation does not exist", which is lag, not fail-over.
  for (int i = 0; i < 300; ++i) {
    try {
      (void)app.on_replica().scalar("SELECT COUNT(*) FROM failover_log");
      break;
    } catch (const Error&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  std::atomic<steady_clock::rep> promoted_at{0}, first_write_after{0};
  test::MixedLoad load(
      [&](std::int64_t id) { app.execute("INSERT INTO failover_log (id) VALUES (?)", {id}); },
      [&] { (void)app.scalar("SELECT COUNT(*) FROM failover_log"); }, 1,
      [&](std::int64_t) {
        if (promoted_at.load() != 0 && first_write_after.load() == 0)
          first_write_after = steady_clock::now().time_since_epoch().count();
      });

  std::this_thread::sleep_for(400ms);
  ASSERT_EQ(servers("halt pg-fo1"), 0);
  const auto halted = steady_clock::now();
  ASSERT_EQ(servers("promote pg-fo2"), 0);
  promoted_at = steady_clock::now().time_since_epoch().count();
  // Writes resume on the promoted standby.
  while (first_write_after.load() == 0 && steady_clock::now() - halted < 20s) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(300ms);
  load.stop();

  ASSERT_NE(first_write_after.load(), 0) << "no write succeeded after the promotion";
  const auto follow_ms =
      duration_cast<milliseconds>(steady_clock::duration(first_write_after.load() - promoted_at.load())).count();
  const auto outage_ms =
      duration_cast<milliseconds>(steady_clock::time_point(steady_clock::duration(first_write_after.load())) - halted)
          .count();
  std::cout << "[ figures  ] first write " << follow_ms << " ms after the promotion (" << outage_ms
            << " ms after the primary stopped); during the switch " << load.figures() << "\n";
  EXPECT_LT(follow_ms, 5000) << "following a promotion must take a bounded time";
  EXPECT_EQ(db.metrics().value("plexus_failovers_total", {{"connection", "app"}}), 1);

  // Every acknowledged write is on the new primary, once.
  auto now = app.on_primary();
  const auto rows = now.select("SELECT id FROM failover_log ORDER BY id");
  std::set<std::int64_t> present;
  for (std::size_t i = 0; i < rows.size(); ++i) present.insert(rows[i][0].as<std::int64_t>());
  EXPECT_EQ(present.size(), rows.size()) << "a write was duplicated";
  EXPECT_EQ(load.lost(present), 0u) << "acknowledged writes lost in the fail-over";
  EXPECT_EQ(app.health().hosts.front().host, "127.0.0.1:25437");

  // The old primary comes back as a standby of the new one and serves reads.
  ASSERT_EQ(servers("rejoin pg-fo1"), 0);
  {
    std::lock_guard lock(hosts_mutex);
    read_hosts.clear();
  }
  bool used = false;
  for (int i = 0; i < 100 && !used; ++i) {
    std::this_thread::sleep_for(50ms);
    try {
      (void)app.scalar("SELECT COUNT(*) FROM failover_log");
    } catch (const Error&) {
    }
    std::lock_guard lock(hosts_mutex);
    used = read_hosts.contains("127.0.0.1:25436");
  }
  EXPECT_TRUE(used) << "the old primary, back as a standby, is used for reads";
  app.execute("INSERT INTO failover_log (id) VALUES (?)", {std::int64_t{-1}});  // writes stay on the new primary
  EXPECT_EQ(db.metrics().value("plexus_failovers_total", {{"connection", "app"}}), 1);
}

// A shard group of mixed engines on real servers: the two PostgreSQL shard
// instances, a database of its own on the MariaDB server, and a SQLite file.
// Keyed routing is checked by asking each member directly; the merge oracle
// compares generated queries with one database holding every row; fan-out
// runs the members in parallel.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <filesystem>

#include "plexus/plexus.hpp"
#include "shard/oracle.hpp"

using namespace plexus;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

class ShardServers : public ::testing::Test {
 protected:
  void SetUp() override {
    pg1 = env("PLEXUS_TEST_PG_SHARD1_URL");
    pg2 = env("PLEXUS_TEST_PG_SHARD2_URL");
    my = env("PLEXUS_TEST_MYSQL_URL");
    if (pg1.empty() || pg2.empty() || my.empty()) GTEST_SKIP() << "needs the servers: run ./scripts/test";
    dir = fs::temp_directory_path() / ("plexus_shard_servers_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    {  // MariaDB: a database of its own, as a separate shard would have
      DatabaseConfig c;
      c.add("admin", my);
      Database admin(c);
      admin.connection("admin").execute("CREATE DATABASE IF NOT EXISTS plexus_shard CHARACTER SET utf8mb4");
    }
    DatabaseConfig cfg;
    cfg.add("pg1", pg1);
    cfg.add("pg2", pg2);
    auto& m = cfg.add("my", my);
    m.database = "plexus_shard";
    cfg.add("lite", sqlite((dir / "lite.db").string()));
    cfg.add("one", sqlite((dir / "one.db").string()));
    cfg.add("pg", env("PLEXUS_TEST_PG_URL"));
    auto& g = cfg.add_shard_group("mixed", {"pg1", "pg2", "my", "lite"}, "hash");
    g.key = "id";
    cfg.add_shard_group("pgs", {"pg1", "pg2", "pg"}, "modulo");
    cfg.add_shard_group("mixed5", {"pg1", "pg2", "my", "lite", "pg"}, "hash").key = "id";
    db = std::make_unique<Database>(cfg);
  }
  void TearDown() override {
    if (!db) return;
    for (const char* m : {"pg1", "pg2", "my", "pg"}) {
      try {
        db->connection(m).execute("DROP TABLE IF EXISTS items");
      } catch (...) {
      }
    }
    db.reset();
    fs::remove_all(dir);
  }
  static std::string ddl(const std::string& conn) {
    if (conn == "my")  // text sorted across shards compares by bytes: a binary collation
      return "CREATE TABLE items (id BIGINT PRIMARY KEY, grp VARCHAR(10) COLLATE utf8mb4_bin, cat INT, price DOUBLE, "
             "qty INT NOT NULL, name VARCHAR(20) COLLATE utf8mb4_bin)";
    if (conn.starts_with("pg"))
      return "CREATE TABLE items (id BIGINT PRIMARY KEY, grp VARCHAR(10), cat INTEGER, price DOUBLE PRECISION, "
             "qty INTEGER NOT NULL, name VARCHAR(20))";
    return "CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT, cat INTEGER, price REAL, qty INTEGER NOT NULL, name TEXT)";
  }
  std::string pg1, pg2, my;
  fs::path dir;
  std::unique_ptr<Database> db;
};

}  // namespace

TEST_F(ShardServers, MixedEnginesAgreeWithOneDatabaseAndKeyedRowsLiveOnTheirMember) {
  auto& g = db->shards("mixed");
  auto [compared, refused] = test::merge_oracle(g, db->connection("one"), 424242, 200, ddl);
  EXPECT_GE(compared, 150) << "refused " << refused;
  std::printf("figures: merge oracle (PostgreSQL x2, MariaDB, SQLite): %d queries identical to one database, %d refused\n",
              compared, refused);
  // Every row is on the member its key names, and only there (asked of each server).
  for (std::int64_t id = 1; id <= 400; id += 7) {
    const std::size_t owner = g.index_of(id);
    for (std::size_t m = 0; m < g.size(); ++m)
      EXPECT_EQ(g.member(m).scalar("SELECT count(*) FROM items WHERE id = ?", {id}).as<std::int64_t>(), m == owner ? 1 : 0)
          << "id " << id << " on " << g.member_names()[m];
  }
  // A keyed update lands on the owner, verified from that server.
  const std::size_t owner = g.index_of(77);
  EXPECT_EQ(g.table("items").where("id", 77).update({{"name", "seventy-seven"}}), 1u);
  EXPECT_EQ(g.member(owner).scalar("SELECT name FROM items WHERE id = 77").as<std::string>(), "seventy-seven");
}

TEST_F(ShardServers, FanOutRunsTheMembersInParallel) {
  auto& g = db->shards("pgs");
  (void)g.select("SELECT 1 AS warm");  // sessions open before timing
  auto timed = [](const std::function<void()>& fn) {
    const auto t0 = steady_clock::now();
    fn();
    return duration<double>(steady_clock::now() - t0).count();
  };
  double slowest = 0;
  for (std::size_t m = 0; m < g.size(); ++m)
    slowest = std::max(slowest, timed([&] { (void)g.member(m).select("SELECT pg_sleep(0.3)"); }));
  const double all = timed([&] { EXPECT_EQ(g.select("SELECT pg_sleep(0.3)").size(), 3u); });
  EXPECT_LE(all, 1.3 * slowest) << "three members, each 0.3 s: the group took " << all << " s";
  std::printf("figures: scatter over 3 PostgreSQL members sleeping 0.3 s: %.3f s (slowest alone %.3f s, ratio %.2f)\n", all,
              slowest, all / slowest);
}

TEST_F(ShardServers, ConcurrentlyRunsADashboardsQueriesOnSeveralEnginesAtOnce) {
  // The seed's dashboard: Promise.all over the users, orders and analytics databases.
  (void)db->concurrently([&] { return db->connection("pg1").select("SELECT 1"); },
                         [&] { return db->connection("my").select("SELECT 1"); });  // sessions open before timing
  const auto t0 = steady_clock::now();
  auto [users, orders, stats] =
      db->concurrently([&] { return db->connection("pg1").scalar("SELECT pg_sleep(0.3)::text || 'users'").as<std::string>(); },
                       [&] { return db->connection("my").scalar("SELECT CONCAT(SLEEP(0.3), 'orders')").as<std::string>(); },
                       [&] { return db->connection("pg2").scalar("SELECT pg_sleep(0.3)::text || 'stats'").as<std::string>(); });
  const double took = duration<double>(steady_clock::now() - t0).count();
  EXPECT_EQ(users, "users");
  EXPECT_EQ(orders, "0orders");
  EXPECT_EQ(stats, "stats");
  EXPECT_LE(took, 1.3 * 0.3 + 0.1) << "three 0.3 s queries at once took " << took << " s";
  std::printf("figures: concurrently, 3 queries of 0.3 s on PostgreSQL x2 and MariaDB: %.3f s\n", took);
}

TEST_F(ShardServers, ReshardingFourToFiveMembersMovesAFifthWithoutLossOrDuplicatesAndResumes) {
  auto& four = db->shards("mixed");
  auto& five = db->shards("mixed5");
  for (std::size_t m = 0; m < five.size(); ++m) {
    five.member(m).execute("DROP TABLE IF EXISTS items");
    five.member(m).execute(ddl(five.member(m).name()));
  }
  std::vector<Fields> rows;
  for (std::int64_t id = 1; id <= 2000; ++id) rows.push_back({{"id", id}, {"grp", "g"}, {"qty", static_cast<int>(id % 7)}});
  EXPECT_EQ(four.table("items").insert_many(rows), 2000u);
  auto where_is = [&] {  // id → the members holding it, asked of each server
    std::map<std::int64_t, std::vector<std::string>> at;
    for (std::size_t m = 0; m < five.size(); ++m)
      for (Row r : five.member(m).select("SELECT id FROM items")) at[r[0].as<std::int64_t>()].push_back(five.member_names()[m]);
    return at;
  };
  const auto plan = plexus::plan_reshard(*db, "mixed", "mixed5", "items");
  EXPECT_EQ(plan.rows_total, 2000u);
  EXPECT_GE(plan.rows_moving, 300u);
  EXPECT_LE(plan.rows_moving, 500u);
  for (const auto& st : plan.steps) EXPECT_EQ(st.to, "pg") << "keys move to the new member only";
  std::printf("figures: reshard plan 4 -> 5 members: %s", plan.to_string().c_str());

  // Interrupted after its first batches…
  ReshardOptions opts;
  opts.batch = 50;
  int calls = 0;
  std::uint64_t moved_when_stopped = 0;
  opts.progress = [&](const ReshardProgress& p) {
    if (++calls < 3) return;
    moved_when_stopped = p.rows_moved;
    throw std::runtime_error("interrupted");
  };
  EXPECT_THROW((void)plexus::reshard(*db, "mixed", "mixed5", "items", opts), std::runtime_error);
  auto mid = where_is();
  EXPECT_EQ(mid.size(), 2000u) << "no row lost";
  for (const auto& [id, at] : mid) EXPECT_EQ(at.size(), 1u) << "id " << id << " is in " << at.size() << " places";
  // …then run again: it continues from where the rows are.
  const auto resumed = plexus::plan_reshard(*db, "mixed", "mixed5", "items");
  EXPECT_GT(moved_when_stopped, 0u);
  EXPECT_EQ(resumed.rows_moving, plan.rows_moving - moved_when_stopped) << "what had moved stays moved";
  std::uint64_t last_progress = 0;
  opts.progress = [&](const ReshardProgress& p) { last_progress = p.rows_moved; };
  const auto report = plexus::reshard(*db, "mixed", "mixed5", "items", opts);
  EXPECT_EQ(report.rows_moved, resumed.rows_moving);
  EXPECT_EQ(last_progress, resumed.rows_moving);
  auto after = where_is();
  ASSERT_EQ(after.size(), 2000u);
  for (const auto& [id, at] : after) {
    ASSERT_EQ(at.size(), 1u) << id;
    EXPECT_EQ(at[0], five.member_names()[five.index_of(id)]) << "id " << id << " on its new member";
  }
  EXPECT_EQ(plexus::plan_reshard(*db, "mixed", "mixed5", "items").rows_moving, 0u);
  EXPECT_EQ(five.table("items").count(), 2000);
  for (const char* m : {"pg1", "pg2", "my", "lite", "pg"}) db->connection(m).execute("DROP TABLE IF EXISTS items");
}

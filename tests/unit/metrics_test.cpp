// Metrics after scripted workloads on real SQLite databases: every counter
// equals what the test caused (generated counts of reads, writes and errors),
// histograms agree with the counters, and the Prometheus text escapes what a
// host name may hold.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <random>
#include <thread>

#include "plexus/plexus.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("plexus_metrics_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

double queries(const Metrics& m, std::string_view conn, std::string_view intent) {
  return m.value("plexus_queries_total", {{"connection", conn}, {"intent", intent}});
}

}  // namespace

TEST_F(MetricsTest, CountersMatchAGeneratedWorkloadOnEveryConnection) {
  std::mt19937 rng(20261201);
  for (int round = 0; round < 5; ++round) {
    DatabaseConfig cfg;
    cfg.add("a", sqlite((dir / ("a" + std::to_string(round) + ".db")).string()));
    cfg.add("b", sqlite((dir / ("b" + std::to_string(round) + ".db")).string()));
    Database db(cfg);
    std::map<std::string, std::array<int, 3>> want;  // reads, writes, syntax errors
    for (const auto* name : {"a", "b"}) {
      auto& c = db.connection(name);
      c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
      const int reads = static_cast<int>(rng() % 20), writes = static_cast<int>(rng() % 20),
                bad = static_cast<int>(rng() % 5);
      for (int i = 0; i < writes; ++i) c.table("t").insert({{"v", std::string(rng() % 8, 'x')}});
      for (int i = 0; i < reads; ++i) (void)c.table("t").count();
      for (int i = 0; i < bad; ++i) EXPECT_THROW(c.execute("SELEC nonsense"), SyntaxError);
      want[name] = {reads, writes + 1, bad};  // + the CREATE TABLE
    }
    const Metrics m = db.metrics();
    for (const auto& [name, w] : want) {
      SCOPED_TRACE(name + std::string(" round ") + std::to_string(round));
      EXPECT_EQ(queries(m, name, "read"), w[0]);
      EXPECT_EQ(queries(m, name, "write"), w[1] + w[2]) << "failed statements count as run, and as errors";
      EXPECT_EQ(m.value("plexus_query_errors_total", {{"connection", name}, {"kind", "syntax"}}), w[2]);
      EXPECT_EQ(m.value("plexus_query_errors_total", {{"connection", name}}), w[2]);
      // The histogram saw every statement, and its buckets only grow.
      EXPECT_EQ(m.value("plexus_query_duration_seconds_count", {{"connection", name}}), w[0] + w[1] + w[2]);
      EXPECT_EQ(m.value("plexus_query_duration_seconds_bucket", {{"connection", name}, {"le", "+Inf"}}),
                w[0] + w[1] + w[2]);
      double prev = 0;
      for (const auto& f : m.families())
        for (const auto& s : f.samples)
          if (s.name == "plexus_query_duration_seconds_bucket" && s.labels[0].second == name) {
            EXPECT_GE(s.value, prev);
            prev = s.value;
          }
      EXPECT_GT(m.value("plexus_query_duration_seconds_sum", {{"connection", name}}), 0);
      EXPECT_EQ(m.value("plexus_pool_sessions", {{"connection", name}, {"state", "idle"}}), 1);
    }
  }
}

TEST_F(MetricsTest, RetriesAndGlobalTransactionOutcomesAreCounted) {
  DatabaseConfig cfg;
  cfg.add("app", sqlite((dir / "app.db").string()));
  Database db(cfg);
  auto& c = db.connection("app");
  c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
  TransactionOptions opts;
  opts.retry.attempts = 5;
  opts.retry.backoff = std::chrono::milliseconds(0);
  int runs = 0;
  c.transaction(
      [&](Transaction& tx) {
        tx.execute("INSERT INTO t DEFAULT VALUES");
        if (++runs < 4) throw RetryableError("scripted conflict");
      },
      opts);
  Metrics m = db.metrics();
  EXPECT_EQ(m.value("plexus_transaction_retries_total", {{"connection", "app"}}), 3);
  EXPECT_EQ(c.scalar("SELECT COUNT(*) FROM t").as<std::int64_t>(), 1);

  db.transaction({"app"}, [](GlobalTransaction& g) { g["app"].execute("INSERT INTO t DEFAULT VALUES"); });
  EXPECT_THROW(db.transaction({"app"},
                              [](GlobalTransaction& g) {
                                g["app"].execute("INSERT INTO t DEFAULT VALUES");
                                throw UsageError("changed my mind");
                              }),
               UsageError);
  m = db.metrics();
  EXPECT_EQ(m.value("plexus_global_transactions_total", {{"outcome", "committed"}}), 1);
  EXPECT_EQ(m.value("plexus_global_transactions_total", {{"outcome", "rolled_back"}}), 1);
  EXPECT_EQ(m.value("plexus_global_transactions_total", {{"outcome", "in_doubt"}}), 0);
}

TEST_F(MetricsTest, PoolWaitsAreCountedWithTheirTime) {
  DatabaseConfig cfg;
  auto& c = cfg.add("app", sqlite((dir / "app.db").string()));
  c.pool.max = 1;
  Database db(cfg);
  auto& conn = db.connection("app");
  conn.execute("CREATE TABLE t (id INTEGER)");
  std::thread other;
  conn.transaction([&](Transaction&) {
    other = std::thread([&] { (void)conn.scalar("SELECT 1"); });  // waits for the one session
    while (db.metrics().value("plexus_pool_waiting", {{"connection", "app"}}) < 1) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  other.join();
  const Metrics m = db.metrics();
  EXPECT_EQ(m.value("plexus_pool_waits_total", {{"connection", "app"}}), 1);
  EXPECT_GE(m.value("plexus_pool_wait_seconds_total", {{"connection", "app"}}), 0.015);
  EXPECT_EQ(m.value("plexus_pool_waiting", {{"connection", "app"}}), 0);
}

TEST_F(MetricsTest, ShardStatementsAreCountedPerMemberAndRoute) {
  DatabaseConfig cfg;
  for (int i = 0; i < 3; ++i) cfg.add("s" + std::to_string(i), sqlite((dir / ("s" + std::to_string(i) + ".db")).string()));
  cfg.add_shard_group("users", {"s0", "s1", "s2"}).key = "id";
  Database db(cfg);
  auto& g = db.shards("users");
  g.every_shard().execute_script("CREATE TABLE users (id INTEGER PRIMARY KEY)");
  for (int id = 0; id < 9; ++id) g.table("users").insert({{"id", id}});
  (void)g.table("users").where("id", 4).first();
  (void)g.table("users").count();
  const Metrics m = db.metrics();
  EXPECT_EQ(m.value("plexus_shard_statements_total", {{"group", "users"}, {"route", "key"}}), 10);
  EXPECT_EQ(m.value("plexus_shard_statements_total", {{"group", "users"}, {"member", "s1"}, {"route", "key"}}), 4);
  EXPECT_EQ(m.value("plexus_shard_statements_total", {{"group", "users"}, {"route", "fan-out"}}), 3);
}

TEST_F(MetricsTest, ThePrometheusTextEscapesLabelsAndDeclaresEveryFamily) {
  const std::string odd = "we\"ird\\na\nme";
  fs::create_directories(dir / odd);
  DatabaseConfig cfg;
  cfg.add("app", sqlite((dir / odd / "x.db").string()));
  Database db(cfg);
  db.connection("app").execute("CREATE TABLE t (id INTEGER)");
  const std::string text = db.metrics().to_prometheus();
  EXPECT_NE(text.find("we\\\"ird\\\\na\\nme"), std::string::npos) << text.substr(0, 2000);
  // Every line is a comment or `name{labels} value` with no raw newline inside.
  std::istringstream in(text);
  std::string line;
  std::set<std::string> declared;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) declared.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.empty() || line[0] == '#') continue;
    ++samples;
    const auto name = line.substr(0, line.find_first_of("{ "));
    bool ok = declared.contains(name);
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (name.size() > std::strlen(suffix) && name.ends_with(suffix))
        ok = ok || declared.contains(name.substr(0, name.size() - std::strlen(suffix)));
    EXPECT_TRUE(ok) << "undeclared: " << line;
    EXPECT_NE(line.rfind(' '), std::string::npos);
  }
  EXPECT_GT(samples, 20);
}

// Global ids: the time-ordered source (worker leases on every control
// engine: SQLite, and PostgreSQL and MariaDB when the servers run) and both
// sources under eight processes inserting 10,000 rows each into a group of
// four members at once (issue #36's target: 0 duplicates, ids of one process
// strictly increasing).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "plexus/plexus.hpp"
#include "shard/processes.hpp"

using namespace plexus;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("plexus_ids_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// The control connection "control" on one engine.
class TimeIdsOn : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string url = "sqlite://" + (scratch("time") / "control.db").string();
    if (GetParam() != "sqlite") url = env(GetParam() == "postgres" ? "PLEXUS_TEST_PG_URL" : "PLEXUS_TEST_MYSQL_URL");
    if (url.empty()) GTEST_SKIP() << "needs the servers: run ./scripts/test";
    DatabaseConfig cfg;
    cfg.add("control", url);
    db = std::make_unique<Database>(cfg);
    db->connection("control").execute("DROP TABLE IF EXISTS plexus_id_workers");
  }
  void TearDown() override {
    if (db) db->connection("control").execute("DROP TABLE IF EXISTS plexus_id_workers");
  }
  [[nodiscard]] std::int64_t workers_rows() {
    return db->connection("control").scalar("SELECT count(*) FROM plexus_id_workers", {}, Intent::write).as<std::int64_t>();
  }
  std::unique_ptr<Database> db;
};

}  // namespace

TEST_P(TimeIdsOn, IdsAreTimeOrderedUniqueAndCarryTheirLeasedWorker) {
  auto a = std::make_unique<TimeIds>(*db, "control", "orders");
  TimeIds b(*db, "control", "orders");
  TimeIds other(*db, "control", "invoices");
  EXPECT_NE(a->worker(), b.worker()) << "two sources of one name hold two worker ids";
  EXPECT_EQ(other.worker(), 0) << "each name has its own worker ids";
  EXPECT_EQ(workers_rows(), 3);

  const std::int64_t before = now_ms();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(a->next());  // several milliseconds' worth of 4,096
  const std::int64_t after = now_ms();
  EXPECT_TRUE(std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<>()) == ids.end())
      << "ids of one source are strictly increasing";
  for (std::int64_t id : {ids.front(), ids[ids.size() / 2], ids.back()}) {
    const auto p = TimeIds::parts(id);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(p.time.time_since_epoch()).count();
    EXPECT_GE(ms, before - 1);
    EXPECT_LE(ms, after + 10) << "4,096 per millisecond: 20,000 ids borrow at most a few milliseconds ahead";
    EXPECT_EQ(p.worker, a->worker());
    EXPECT_GT(id, 0);
  }
  std::set<std::int64_t> seen(ids.begin(), ids.end());
  for (int i = 0; i < 5000; ++i) EXPECT_TRUE(seen.insert(b.next()).second) << "another worker never repeats an id";

  // A source handed back frees its worker id; whoever takes it next starts
  // after the last millisecond it used.
  const int freed = a->worker();
  const std::int64_t last = ids.back();
  a.reset();
  std::this_thread::sleep_for(5ms);
  TimeIds c(*db, "control", "orders");
  EXPECT_EQ(c.worker(), freed);
  EXPECT_GT(TimeIds::parts(c.next()).time, TimeIds::parts(last).time);
  EXPECT_EQ(workers_rows(), 3) << "the row was reused, not a new worker id";
}

TEST_P(TimeIdsOn, ALostLeaseMovesToAnotherWorkerAndFullLeasesAreACleanError) {
  TimeIds ids(*db, "control", "orders", 2s);
  const std::int64_t first = ids.next();
  const int worker = ids.worker();
  // Another process took the worker id (as if this one had stalled past its
  // lease): at the next renewal this source notices and claims another.
  db->connection("control").execute("UPDATE plexus_id_workers SET owner = 'thief', expires_ms = ? WHERE worker = ?",
                                    {now_ms() + 60000, worker});
  std::this_thread::sleep_for(1100ms);  // past half the lease: the next id renews
  const std::int64_t second = ids.next();
  EXPECT_NE(ids.worker(), worker);
  EXPECT_GT(second, first) << "still increasing after the move";
  EXPECT_EQ(TimeIds::parts(second).worker, ids.worker());

  // Every worker id leased: refused with what to do, and nothing claimed.
  auto& control = db->connection("control");
  std::vector<std::vector<Value>> rows;
  for (int w = 0; w < TimeIds::kWorkers; ++w) rows.push_back({std::string("full"), w, std::string("x"), now_ms() + 60000});
  control.execute_batch("INSERT INTO plexus_id_workers (name, worker, owner, expires_ms) VALUES (?, ?, ?, ?)", rows);
  try {
    TimeIds none(*db, "control", "full");
    ADD_FAILURE() << "a 1,025th worker was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("all 1024 worker ids are leased"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TimeIds(*db, "control", "orders", 1s), UsageError);
  EXPECT_THROW(TimeIds(*db, "nowhere", "orders"), ConfigError);
  EXPECT_THROW(TimeIds(*db, "control", ""), UsageError);
}

INSTANTIATE_TEST_SUITE_P(Engines, TimeIdsOn, ::testing::Values("sqlite", "postgres", "mysql"),
                         [](const auto& param) { return param.param; });

// ---- a group's ids under eight processes -----------------------------------------------

namespace {

DatabaseConfig group_with_ids(const fs::path& dir, const std::string& kind) {
  DatabaseConfig cfg;
  std::vector<std::string> members;
  for (int i = 0; i < 4; ++i) {
    members.push_back("s" + std::to_string(i));
    cfg.add(members.back(), sqlite((dir / (members.back() + ".db")).string()));
  }
  cfg.add("control", sqlite((dir / "control.db").string()));
  auto& g = cfg.add_shard_group("g", members, kind == "time" ? "hash" : "modulo");
  g.key = "id";
  ShardIdsConfig ids;
  ids.table = "events";
  ids.connection = "control";
  ids.kind = kind;
  g.ids.push_back(ids);
  return cfg;
}

}  // namespace

class GroupIds : public ::testing::TestWithParam<std::string> {};

TEST_P(GroupIds, EightProcessesInsertingTenThousandRowsEachNeverShareAnId) {
  constexpr int kProcesses = 8, kRows = 10000, kChunk = 500;
  const auto dir = scratch("group_" + GetParam());
  const DatabaseConfig cfg = group_with_ids(dir, GetParam());
  {
    Database db(cfg);
    db.shards("g").every_shard().execute("CREATE TABLE events (id BIGINT PRIMARY KEY, process INTEGER, seq INTEGER)");
  }
  EXPECT_TRUE(test::in_processes(kProcesses, [&](int p) {
    Database mine(cfg);  // the sources come from the configuration
    auto& group = mine.shards("g");
    std::vector<Fields> rows;
    for (int at = 0; at < kRows; at += kChunk) {
      rows.clear();
      for (int i = at; i < at + kChunk; ++i) rows.push_back({{"process", p}, {"seq", i}});
      (void)group.table("events").insert_many(rows);
    }
  })) << "a child failed (see its message above)";
  Database db(cfg);
  std::set<std::int64_t> all;
  std::map<int, std::vector<std::pair<int, std::int64_t>>> by_process;  // process → (seq, id)
  std::size_t rows = 0;
  for (int m = 0; m < 4; ++m)
    db.connection("s" + std::to_string(m)).select_each("SELECT id, process, seq FROM events", {}, [&](Row r) {
      const auto id = r[0].as<std::int64_t>();
      all.insert(id);
      ++rows;
      EXPECT_EQ(db.shards("g").index_of(id), static_cast<std::size_t>(m)) << "row " << id << " is on its id's member";
      by_process[r[1].as<int>()].emplace_back(r[2].as<int>(), id);
    });
  EXPECT_EQ(rows, static_cast<std::size_t>(kProcesses * kRows)) << "a row is missing";
  EXPECT_EQ(all.size(), rows) << "an id was handed out twice";
  ASSERT_EQ(by_process.size(), static_cast<std::size_t>(kProcesses));
  for (auto& [process, seqs] : by_process) {
    std::sort(seqs.begin(), seqs.end());
    ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kRows));
    for (std::size_t i = 1; i < seqs.size(); ++i)
      ASSERT_LT(seqs[i - 1].second, seqs[i].second) << "process " << process << ": ids are strictly increasing";
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, GroupIds, ::testing::Values("sequence", "time"),
                         [](const auto& param) { return param.param; });

TEST(GroupIdsConfig, TimeIdsOnAModuloGroupAndMisplacedKeysAreRefused) {
  const auto dir = scratch("config");
  DatabaseConfig cfg = group_with_ids(dir, "time");
  cfg.shard_groups.back().strategy = "modulo";
  try {
    Database db(cfg);
    ADD_FAILURE() << "time ids on a modulo group were accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("shards.g.ids.events"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("strategy \"hash\""), std::string::npos) << e.what();
  }
  auto toml = [&](const std::string& ids) {
    return "[connections.control]\nurl = \"sqlite://" + (dir / "c.db").string() +
           "\"\n[connections.s0]\nurl = \"sqlite://" + (dir / "s0.db").string() +
           "\"\n[shards.g]\nmembers = [\"s0\"]\nstrategy = \"hash\"\nkey = \"id\"\n[shards.g.ids.events]\n"
           "connection = \"control\"\n" + ids;
  };
  {
    Database db(DatabaseConfig::from_toml_string(toml("kind = \"time\"\nlease = 30\n"), "ids.toml"));
    db.connection("s0").execute("CREATE TABLE events (id BIGINT PRIMARY KEY, v INTEGER)");
    const auto id = db.shards("g").table("events").insert_get_id({{"v", 1}}, "id");
    EXPECT_EQ(TimeIds::parts(id).worker, 0);
    EXPECT_GT(id, std::int64_t(1) << 22) << "a time-ordered id, not a sequence's 1";
  }
  EXPECT_THROW(DatabaseConfig::from_toml_string(toml("kind = \"time\"\nblock = 10\n"), "ids.toml"), ConfigError);
  EXPECT_THROW(DatabaseConfig::from_toml_string(toml("lease = 10\n"), "ids.toml"), ConfigError);
  EXPECT_THROW(DatabaseConfig::from_toml_string(toml("kind = \"snowflake\"\n"), "ids.toml"), ConfigError);
  EXPECT_THROW(DatabaseConfig::from_toml_string(toml("kind = \"time\"\nlease = 1\n"), "ids.toml"), ConfigError);
}

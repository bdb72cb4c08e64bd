// Shard groups on SQLite files (no servers): strategies, configuration
// errors, keyed routing checked on each member directly, refusals, preview,
// and the merge oracle: generated queries answered by the group and by one
// database holding every row must agree, or be refused.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "plexus/plexus.hpp"
#include "shard/oracle.hpp"
#include "shard/processes.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("plexus_shard_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// Four SQLite members s0…s3 and a group "g" over them, plus "one" for the oracle.
DatabaseConfig four_files(const fs::path& dir, const std::string& strategy = "hash") {
  DatabaseConfig cfg;
  for (int i = 0; i < 4; ++i) cfg.add("s" + std::to_string(i), sqlite((dir / ("s" + std::to_string(i) + ".db")).string()));
  cfg.add("one", sqlite((dir / "one.db").string()));
  auto& g = cfg.add_shard_group("g", {"s0", "s1", "s2", "s3"}, strategy);
  g.key = "id";
  return cfg;
}

std::int64_t rows_on(Connection& c, const std::string& table, std::int64_t id) {
  return c.scalar("SELECT count(*) FROM " + table + " WHERE id = ?", {id}).as<std::int64_t>();
}

}  // namespace

// ---- strategies -------------------------------------------------------------

TEST(ShardStrategy, ModuloIsTheSeedsShardRouter) {
  auto dir = scratch("modulo");
  Database db(four_files(dir, "modulo"));
  auto& g = db.shards("g");
  // The seed: users_shard_${userId % 4 + 1}.
  for (std::int64_t id : {0, 1, 2, 3, 4, 7, 42, 1001}) EXPECT_EQ(g.index_of(id), static_cast<std::size_t>(id % 4)) << id;
  EXPECT_EQ(g.index_of(-1), 3u) << "negative keys wrap like a mathematical modulo";
  EXPECT_EQ(&g.shard(6), &db.connection("s2"));
  EXPECT_THROW((void)g.index_of("abc"), UsageError) << "modulo needs integer keys";
  EXPECT_EQ(g.strategy(), "modulo 4");
}

TEST(ShardStrategy, ConsistentHashMovesAboutAFifthOfTheKeysFromFourToFiveMembers) {
  auto dir = scratch("jump");
  DatabaseConfig cfg = four_files(dir);
  cfg.add("s4", sqlite((dir / "s4.db").string()));
  cfg.add_shard_group("g5", {"s0", "s1", "s2", "s3", "s4"}, "hash");
  Database db(cfg);
  auto& four = db.shards("g");
  auto& five = db.shards("g5");
  std::size_t moved = 0, to_new = 0;
  std::map<std::size_t, std::size_t> spread;
  for (std::int64_t k = 1; k <= 100000; ++k) {
    const auto a = four.index_of(k), b = five.index_of(k);
    ++spread[a];
    if (a != b) {
      ++moved;
      to_new += b == 4;
    }
  }
  EXPECT_GE(moved, 15000u);
  EXPECT_LE(moved, 25000u);
  EXPECT_EQ(to_new, moved) << "a key that moves goes to the new member only";
  for (auto [member, n] : spread) EXPECT_NEAR(static_cast<double>(n), 25000.0, 1500.0) << member;
  // Text keys hash too, the same on every run.
  EXPECT_EQ(four.index_of("user-42"), four.index_of(std::string("user-42")));
  EXPECT_THROW((void)four.index_of(1.5), UsageError);
}

TEST(ShardStrategy, RangesPlaceKeysAndRefuseGapsAndOverlaps) {
  auto dir = scratch("range");
  auto with = [&](std::vector<ShardRange> ranges) {
    DatabaseConfig cfg = four_files(dir, "range");
    cfg.shard_groups.front().ranges = std::move(ranges);
    return cfg;
  };
  Database db(with({{"s0", Value(), 100}, {"s1", 100, 200}, {"s2", 200, 1000}, {"s3", 1000, Value()}}));
  auto& g = db.shards("g");
  EXPECT_EQ(g.index_of(-5), 0u);
  EXPECT_EQ(g.index_of(99), 0u);
  EXPECT_EQ(g.index_of(100), 1u);
  EXPECT_EQ(g.index_of(999), 2u);
  EXPECT_EQ(g.index_of(1000000), 3u);
  EXPECT_THROW((void)g.index_of("x"), UsageError);

  auto refused = [&](std::vector<ShardRange> ranges, const std::string& words) {
    try {
      Database bad(with(std::move(ranges)));
      ADD_FAILURE() << "accepted: " << words;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("shard group 'g'"), std::string::npos) << e.what();
    }
  };
  refused({{"s0", Value(), 100}, {"s1", 150, Value()}}, "gap");
  refused({{"s0", Value(), 100}, {"s1", 50, Value()}}, "overlap");
  refused({{"s0", 10, 5}}, "empty");
  refused({{"s0", Value(), 100}, {"s1", "m", Value()}}, "mix");
  refused({{"nope", Value(), Value()}}, "not a member");
  refused({}, "needs ranges");
}

TEST(ShardStrategy, DirectoryLooksKeysUpOnItsConnectionAndCachesThem) {
  auto dir = scratch("directory");
  DatabaseConfig cfg = four_files(dir, "directory");
  cfg.shard_groups.front().directory.connection = "one";
  Database db(cfg);
  db.connection("one").execute("CREATE TABLE plexus_shard_directory (shard_key TEXT PRIMARY KEY, member TEXT NOT NULL)");
  auto& g = db.shards("g");
  EXPECT_THROW((void)g.index_of(7), UsageError) << "an unknown key is an error, not a guess";
  g.assign(7, "s2");
  EXPECT_EQ(g.index_of(7), 2u);
  g.assign(7, "s3");  // moved
  EXPECT_EQ(g.index_of(7), 3u);
  db.connection("one").execute("INSERT INTO plexus_shard_directory VALUES ('8', 's1')");
  EXPECT_EQ(g.index_of(8), 1u);
  EXPECT_THROW(g.assign(9, "s9"), UsageError);
}

TEST(ShardStrategy, ACustomFunctionAndARegisteredOne) {
  auto dir = scratch("custom");
  DatabaseConfig cfg = four_files(dir, "custom");
  cfg.shard_groups.front().custom = [](const Value& k, std::size_t n) { return static_cast<std::size_t>(k.as<std::int64_t>() / 10) % n; };
  Database db(cfg);
  EXPECT_EQ(db.shards("g").index_of(25), 2u);

  DatabaseConfig named = four_files(dir, "by_tens");
  Extensions ext;
  ext.shard_strategies["by_tens"] = [](const Value& k, std::size_t n) { return static_cast<std::size_t>(k.as<std::int64_t>() / 10) % n; };
  Database db2(named, ext);
  EXPECT_EQ(db2.shards("g").index_of(31), 3u);
  EXPECT_EQ(db2.shards("g").strategy(), "by_tens");
}

TEST(ShardConfig, BadGroupsFailWhenTheDatabaseIsBuilt) {
  auto dir = scratch("config");
  auto refused = [&](const std::function<void(DatabaseConfig&)>& edit, const std::string& words) {
    DatabaseConfig cfg = four_files(dir);
    edit(cfg);
    try {
      Database db(cfg);
      ADD_FAILURE() << "accepted: " << words;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused([](auto& c) { c.shard_groups.front().strategy = "nope"; }, "unknown strategy 'nope'");
  refused([](auto& c) { c.shard_groups.front().members.push_back("missing"); }, "member 'missing' is not a configured connection");
  refused([](auto& c) { c.shard_groups.front().members.push_back("s0"); }, "listed twice");
  refused([](auto& c) { c.shard_groups.front().members.clear(); }, "no members");
  refused([](auto& c) { c.shard_groups.front().strategy = "directory"; }, "needs directory.connection");
  refused([](auto& c) { c.shard_groups.front().strategy = "custom"; }, "needs a function");
  refused([](auto& c) { c.shard_groups.front().key = "bad name;"; }, "key");
  refused([](auto& c) { c.add_shard_group("s0", {"s1"}); }, "same name");

  Database db(four_files(dir));
  try {
    (void)db.shards("users_shards");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown shard group 'users_shards' (configured: g)"), std::string::npos) << e.what();
  }
}

TEST(ShardConfig, GroupsComeFromToml) {
  auto dir = scratch("toml");
  const std::string text = "[connections.a]\ndriver = \"sqlite\"\ndatabase = \"" + (dir / "a.db").string() +
                           "\"\n[connections.b]\ndriver = \"sqlite\"\ndatabase = \"" + (dir / "b.db").string() +
                           "\"\n[shards.users_shards]\nmembers = [\"a\", \"b\"]\nstrategy = \"range\"\nkey = \"user_id\"\n"
                           "ranges = [{ member = \"a\", to = 1000 }, { member = \"b\", from = 1000 }]\n";
  Database db(DatabaseConfig::from_toml_string(text, "shards.toml"));
  EXPECT_EQ(db.shards("users_shards").index_of(999), 0u);
  EXPECT_EQ(db.shards("users_shards").index_of(1000), 1u);
  EXPECT_EQ(db.shards("users_shards").key(), "user_id");
  // Global ids per table, from TOML: rows without the column get one.
  const std::string with_ids = text + "[shards.users_shards.ids.users]\nconnection = \"a\"\ncolumn = \"user_id\"\nblock = 5\n";
  {
    Database ids_db(DatabaseConfig::from_toml_string(with_ids, "shards.toml"));
    ids_db.shards("users_shards").every_shard().execute("CREATE TABLE users (user_id INTEGER PRIMARY KEY, name TEXT)");
    EXPECT_EQ(ids_db.shards("users_shards").table("users").insert_get_id({{"name", "first"}}, "user_id"), 1);
    EXPECT_EQ(ids_db.connection("a").scalar("SELECT next_id FROM plexus_id_blocks WHERE name = 'users'").as<int>(), 6);
  }
  for (const auto& [bad, words] : std::vector<std::pair<std::string, std::string>>{
           {"[shards.users_shards.ids.users]\ncolumn = \"id\"\n", "key 'shards.users_shards.ids.users': needs connection"},
           {"[shards.users_shards.ids.users]\nconnection = \"a\"\nblock = 0\n", "shards.users_shards.ids.users.block"},
           {"[shards.users_shards.ids.users]\nconnection = \"a\"\nstart = 5\n", "shards.users_shards.ids.users.start"},
           {"[shards.users_shards.ids.users]\nconnection = \"nowhere\"\n", "nowhere"}}) {
    try {
      Database bad_db(DatabaseConfig::from_toml_string(text + bad, "shards.toml"));
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
  try {
    (void)DatabaseConfig::from_toml_string(text + "colour = \"red\"\n", "shards.toml");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("shards.users_shards.colour"), std::string::npos) << e.what();
  }
}

// ---- keyed routing ----------------------------------------------------------

class ShardRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    db = std::make_unique<Database>(four_files(dir, "modulo"));
    db->shards("g").every_shard().execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)");
  }
  fs::path dir;
  std::unique_ptr<Database> db;
};

TEST_F(ShardRouting, KeyedWritesAndReadsGoToTheOwningMemberOnly) {
  auto& g = db->shards("g");
  for (std::int64_t id = 1; id <= 12; ++id)
    g.table("users").insert({{"id", id}, {"name", "u" + std::to_string(id)}, {"score", id * 10}});
  for (std::int64_t id = 1; id <= 12; ++id)
    for (int m = 0; m < 4; ++m)
      EXPECT_EQ(rows_on(db->connection("s" + std::to_string(m)), "users", id), m == id % 4 ? 1 : 0) << id;

  std::vector<std::string> seen;
  std::mutex seen_mutex;  // a fan-out runs its members on several threads
  db->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(seen_mutex);
    seen.push_back(std::string(e.connection));
  });
  auto u = g.table("users").where("id", 7).first();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->get<std::string>("name"), "u7");
  EXPECT_EQ(seen, std::vector<std::string>{"s3"}) << "a keyed read asks one member";
  seen.clear();
  EXPECT_EQ(g.table("users").where("id", 6).update({{"name", "six"}}), 1u);
  EXPECT_EQ(g.table("users").where("id", 5).remove(), 1u);
  EXPECT_EQ(seen, (std::vector<std::string>{"s2", "s1"}));
  EXPECT_EQ(db->connection("s2").scalar("SELECT name FROM users WHERE id = 6").as<std::string>(), "six");
  EXPECT_EQ(rows_on(db->connection("s1"), "users", 5), 0);
  // first() with no row: empty both by key (one member) and merged across them.
  EXPECT_FALSE(g.table("users").where("id", 5).first().has_value());
  EXPECT_FALSE(g.table("users").where("name", "nobody").first().has_value());
  auto merged = g.table("users").where("name", "u8").first();
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(merged->get<std::int64_t>("id"), 8);
  seen.clear();
  EXPECT_EQ(g.table("users").where_in("id", {1, 5, 9, 2}).count(), 3) << "5 is gone";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), (std::set<std::string>{"s1", "s2"}))
      << "an IN list on the key asks only the members owning those keys";

  // insert_many splits the rows by member.
  std::vector<Fields> many;
  for (std::int64_t id = 100; id < 108; ++id) many.push_back({{"id", id}, {"name", "m"}, {"score", 1}});
  EXPECT_EQ(g.table("users").insert_many(many), 8u);
  for (int m = 0; m < 4; ++m)
    EXPECT_EQ(db->connection("s" + std::to_string(m)).scalar("SELECT count(*) FROM users WHERE id >= 100").as<int>(), 2);
}

TEST_F(ShardRouting, GlobalIdsFillRowsWithoutAKeyNeverRepeatAndPlaceTheRowByThem) {
  auto& g = db->shards("g");
  // Rows without an id were refused (no key to place them by); with a source
  // they get one. A block of 7 makes the group reserve many times.
  EXPECT_THROW(g.table("users").insert({{"name", "none"}}), UsageError);
  auto ids = std::make_shared<SequenceIds>(*db, "one", "users", 7);
  g.generate_ids("users", "id", ids);
  std::vector<std::int64_t> returned;
  for (int i = 0; i < 15; ++i) g.table("users").insert({{"name", "a"}, {"score", i}});
  for (int i = 0; i < 15; ++i) returned.push_back(g.table("users").insert_get_id({{"name", "b"}, {"score", i}}, "id"));
  std::vector<Fields> many(15, Fields{{"name", "c"}, {"score", 1}});
  EXPECT_EQ(g.table("users").insert_many(many), 15u);
  g.table("users").insert({{"id", 100000}, {"name", "chosen"}});  // a row with its id keeps it
  EXPECT_TRUE(std::is_sorted(returned.begin(), returned.end()) &&
              std::adjacent_find(returned.begin(), returned.end()) == returned.end())
      << "ids from one source are strictly increasing";
  std::set<std::int64_t> all;
  std::int64_t rows = 0;
  for (int m = 0; m < 4; ++m)
    for (Row r : db->connection("s" + std::to_string(m)).select("SELECT id FROM users")) {
      const auto id = r[0].as<std::int64_t>();
      EXPECT_EQ(id % 4, m) << "row " << id << " is on the member its id names";
      all.insert(id);
      ++rows;
    }
  EXPECT_EQ(rows, 46);
  EXPECT_EQ(all.size(), 46u) << "no id was handed out twice";
  EXPECT_EQ(*all.begin(), 1) << "the sequence starts at 1";
  EXPECT_EQ(db->connection("one").scalar("SELECT next_id FROM plexus_id_blocks WHERE name = 'users'").as<std::int64_t>(),
            1 + 7 * 7) << "45 ids took seven blocks of seven";
  EXPECT_THROW(SequenceIds(*db, "one", "users", 0), UsageError);
  EXPECT_THROW(SequenceIds(*db, "nowhere", "users", 10), ConfigError);
}

TEST_F(ShardRouting, GlobalIdsFromFourProcessesAtOnceNeverCollide) {
  // Four processes insert through their own Database (the same files), each
  // reserving blocks of 25 from the control table while the others do.
  constexpr int kProcesses = 4, kRows = 150;
  const DatabaseConfig cfg = four_files(dir, "modulo");
  EXPECT_TRUE(test::in_processes(kProcesses, [&](int p) {
    Database mine(cfg);
    auto& group = mine.shards("g");
    group.generate_ids("users", "id", std::make_shared<SequenceIds>(mine, "one", "users", 25));
    for (int i = 0; i < kRows; ++i)
      (void)group.table("users").insert_get_id({{"name", "p" + std::to_string(p)}, {"score", i}}, "id");
  })) << "a child failed (see its message above)";
  std::set<std::int64_t> all;
  std::map<std::string, std::vector<std::pair<std::int64_t, std::int64_t>>> by_process;  // name → (score, id)
  for (int m = 0; m < 4; ++m)
    for (Row r : db->connection("s" + std::to_string(m)).select("SELECT id, name, score FROM users")) {
      all.insert(r[0].as<std::int64_t>());
      by_process[r[1].as<std::string>()].emplace_back(r[2].as<std::int64_t>(), r[0].as<std::int64_t>());
    }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kProcesses * kRows)) << "an id was handed out twice, or a row is missing";
  ASSERT_EQ(by_process.size(), static_cast<std::size_t>(kProcesses));
  for (auto& [name, rows] : by_process) {
    std::sort(rows.begin(), rows.end());
    for (std::size_t i = 1; i < rows.size(); ++i)
      EXPECT_LT(rows[i - 1].second, rows[i].second) << name << ": ids of one process are strictly increasing";
  }
}

TEST_F(ShardRouting, WritesWithoutTheKeyAndKeyChangesAreRefused) {
  auto& g = db->shards("g");
  for (std::int64_t id = 1; id <= 8; ++id) g.table("users").insert({{"id", id}, {"name", "x"}, {"score", 1}});
  auto message = [](const std::function<void()>& fn) {
    try {
      fn();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message([&] { (void)g.table("users").where("score", 1).update({{"name", "y"}}); }).find("every_shard()"),
            std::string::npos);
  EXPECT_NE(message([&] { (void)g.table("users").where("score", 1).all_rows().remove(); }).find("names no shard key"),
            std::string::npos);
  EXPECT_NE(message([&] { (void)g.table("users").insert({{"name", "no key"}}); }).find("needs the shard key 'id'"),
            std::string::npos);
  // A key change moves the row in one commit across both members: two
  // SQLite files cannot prepare, so the move is refused before anything runs.
  EXPECT_NE(message([&] { (void)g.table("users").where("id", 3).update({{"id", 4}}); }).find("cannot prepare a transaction"),
            std::string::npos);
  EXPECT_NE(message([&] { (void)g.table("users").where("id", 3).increment("id", 1); }).find("changes the shard key 'id' by an expression"),
            std::string::npos);
  // A new key on the same member (3 % 4 == 11 % 4) is a plain update there.
  EXPECT_EQ(g.table("users").where("id", 3).update({{"id", 11}}), 1u);
  EXPECT_EQ(rows_on(db->connection("s3"), "users", 11), 1);
  EXPECT_EQ(g.table("users").where("id", 11).update({{"id", 3}}), 1u);
  EXPECT_NE(message([&] { (void)g.execute("DELETE FROM users"); }).find("every_shard()"), std::string::npos);
  EXPECT_EQ(g.table("users").count(), 8) << "nothing was written by a refused call";
  EXPECT_EQ(g.every_shard().table("users").where("score", 1).update({{"name", "all"}}), 8u);
  EXPECT_EQ(g.table("users").where("name", "all").count(), 8);
}

TEST_F(ShardRouting, RawSqlIsConcatenatedOrRefusedAndPreviewShowsEachMembersSql) {
  auto& g = db->shards("g");
  for (std::int64_t id = 1; id <= 8; ++id) g.table("users").insert({{"id", id}, {"name", "x"}, {"score", id}});
  EXPECT_EQ(g.select("SELECT id FROM users WHERE score > ?", {4}).size(), 4u);
  for (const char* sql : {"SELECT id FROM users ORDER BY id LIMIT 3", "SELECT count(*) FROM users",
                          "SELECT DISTINCT name FROM users", "select max(score) from users"})
    EXPECT_THROW((void)g.select(sql), UsageError) << sql;
  EXPECT_EQ(g.select("SELECT 'ORDER BY' AS note FROM users WHERE id = 1").size(), 1u) << "a quoted word is not SQL";

  auto plan = g.preview(g.table("users").select({"id", "name"}).where("score", ">", 2).order_by_desc("score").limit(3).offset(1));
  ASSERT_EQ(plan.targets.size(), 4u);
  EXPECT_TRUE(plan.exact());
  EXPECT_NE(plan.targets[0].query.sql.find("LIMIT 4"), std::string::npos) << plan.to_string();
  EXPECT_NE(plan.merge.find("ordered merge"), std::string::npos) << plan.to_string();
  // A group has no one dialect: to_sql() without one is refused, pointing at preview().
  try {
    (void)g.table("users").where("id", 6).to_sql();
    ADD_FAILURE() << "to_sql() on a shard group compiled for one member's dialect";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("preview"), std::string::npos) << e.what();
  }
  EXPECT_EQ(g.table("users").where("id", 6).to_sql("sqlite").sql, "SELECT * FROM \"users\" WHERE \"id\" = ?");
  auto one = g.preview(g.table("users").where("id", 6));
  ASSERT_EQ(one.targets.size(), 1u);
  EXPECT_EQ(one.targets[0].connection, "s2");
  EXPECT_EQ(one.targets[0].query.sql, "SELECT * FROM \"users\" WHERE \"id\" = ?");
  auto refused = g.preview(g.table("users").select({raw("COUNT(DISTINCT name) AS n")}));
  EXPECT_FALSE(refused.exact());
  EXPECT_NE(refused.refused.find("COUNT(DISTINCT name)"), std::string::npos) << refused.refused;
  EXPECT_NE(refused.to_json().find("\"exact\": false"), std::string::npos);
  EXPECT_TRUE(g.preview(g.table("users").select({raw("COUNT(DISTINCT id) AS n")})).exact())
      << "distinct shard keys never repeat across members";
}

// ---- models on a shard group -------------------------------------------------

namespace {

struct Order {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  double total = 0;
  std::string status;
  static constexpr auto schema =
      plexus::schema("orders", col<&Order::id>("id", primary_key), col<&Order::user_id>("user_id"),
                     col<&Order::total>("total"), col<&Order::status>("status"))
          .connection("orders_shards")
          .shard_key("user_id");
};

struct Customer {
  std::int64_t id = 0;
  std::string name;
  std::vector<Order> orders;
  static constexpr auto schema =
      plexus::schema("customers", col<&Customer::id>("id", primary_key), col<&Customer::name>("name"))
          .connection("g")
          .shard_key("id");
};
constexpr auto customer_orders = has_many<&Customer::orders, &Order::user_id>();

struct Stray {
  std::int64_t id = 0;
  static constexpr auto schema =
      plexus::schema("stray", col<&Stray::id>("id", primary_key)).connection("s0").shard_key("id");
};

/// four_files() plus a group "orders_shards" over the same members, keyed by user_id.
DatabaseConfig orders_config(const fs::path& dir) {
  DatabaseConfig cfg = four_files(dir, "modulo");
  cfg.add_shard_group("orders_shards", {"s0", "s1", "s2", "s3"}, "modulo").key = "user_id";
  return cfg;
}

void create_orders(Database& db) {
  db.shards("orders_shards").every_shard().execute(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, total REAL, status TEXT)");
}

}  // namespace

TEST(ShardModels, ACreatedModelWithoutAKeyTakesAGlobalIdAndGoesToItsShardKeysMember) {
  Database db(orders_config(scratch("model_ids")));
  create_orders(db);
  db.shards("orders_shards").generate_ids("orders", "id", std::make_shared<SequenceIds>(db, "one", "orders", 10));
  auto orders = db.model<Order>();
  auto a = orders.create(Order{0, 3, 1.0, "open"});
  auto b = orders.create(Order{0, 6, 2.0, "open"});
  EXPECT_EQ(a.id, 1);
  EXPECT_EQ(b.id, 2);
  EXPECT_EQ(rows_on(db.connection("s3"), "orders", 1), 1) << "placed by its shard key (user 3), not by its id";
  EXPECT_EQ(rows_on(db.connection("s2"), "orders", 2), 1);
  EXPECT_EQ(orders.find(2)->user_id, 6);
}

TEST(ShardModels, AModelWithAShardKeyRoutesByItAndFansOutWithoutIt) {
  auto dir = scratch("models");
  DatabaseConfig cfg = orders_config(dir);
  Database db(cfg);
  create_orders(db);
  auto orders = db.model<Order>();
  for (std::int64_t i = 1; i <= 20; ++i) (void)orders.create(Order{i, i % 5, i * 1.5, i % 2 ? "paid" : "open"});
  // Each order sits on the member of its user (user_id % 4), asked directly.
  for (std::int64_t i = 1; i <= 20; ++i)
    for (int m = 0; m < 4; ++m)
      EXPECT_EQ(rows_on(db.connection("s" + std::to_string(m)), "orders", i), m == (i % 5) % 4 ? 1 : 0) << i;

  auto paid = orders.where("status", "paid").order_by_desc("total").limit(3).get();  // every member, merged
  ASSERT_EQ(paid.size(), 3u);
  EXPECT_EQ(paid[0].id, 19);
  EXPECT_EQ(paid[2].id, 15);
  EXPECT_EQ(orders.where("user_id", 3).count(), 4);  // one member

  EXPECT_FALSE(orders.find(9999).has_value()) << "no member holds it: empty, not a default order";
  EXPECT_FALSE(orders.where("status", "nobody").first().has_value());
  auto found = orders.find(7);  // the key is not the shard key: asks every member
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->exists());
  EXPECT_EQ(found->user_id, 2);
  found->status = "refunded";
  orders.save(*found);  // matched by id and user_id: one member
  EXPECT_EQ(db.connection("s2").scalar("SELECT status FROM orders WHERE id = 7").as<std::string>(), "refunded");
  found->user_id = 1;  // moving a row between two SQLite members cannot commit atomically: refused, not half-done
  EXPECT_THROW(orders.save(*found), UsageError);
  EXPECT_EQ(db.connection("s2").scalar("SELECT user_id FROM orders WHERE id = 7").as<int>(), 2);
  // The same change through a plain struct is refused the same way, and writes nothing
  // (a move between members that can prepare is tested on the servers).
  Order plain{7, 1, 99.0, "changed"};
  try {
    orders.save(plain);
    ADD_FAILURE() << "a plain struct's shard-key change was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot prepare a transaction"), std::string::npos) << e.what();
  }
  EXPECT_EQ(db.connection("s2").scalar("SELECT status FROM orders WHERE id = 7").as<std::string>(), "refunded");
  EXPECT_EQ(db.connection("s1").scalar("SELECT count(*) FROM orders WHERE id = 7").as<int>(), 0);
  Order nobody{9999, 1, 1.0, "nobody"};
  orders.save(nobody);  // no such row: nothing to update, as on one database
  EXPECT_FALSE(orders.find(9999).has_value());
  EXPECT_TRUE(orders.remove(Order{8, 3, 0, ""}));
  EXPECT_EQ(rows_on(db.connection("s3"), "orders", 8), 0);
  EXPECT_THROW((void)orders.connection(), UsageError) << "a group is not one connection";

  // Relations between models on two groups: customers on g (by id), their orders on orders_shards (by user_id).
  db.shards("g").every_shard().execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
  auto customers = db.model<Customer>();
  for (std::int64_t c = 1; c <= 4; ++c) (void)customers.create(Customer{c, "c" + std::to_string(c), {}});
  int queries = 0;
  db.on_before_query([&](const QueryEvent&) { ++queries; });
  auto loaded = customers.query().with(customer_orders).order_by("id").get();
  ASSERT_EQ(loaded.size(), 4u);
  std::size_t total = 0;
  for (const auto& c : loaded) {
    for (const auto& o : c.orders) EXPECT_EQ(o.user_id, c.id);
    total += c.orders.size();
  }
  EXPECT_EQ(total, 15u) << "the orders of users 1-4 but the removed one, each under its customer";
  EXPECT_EQ(loaded[2].orders.size(), 3u) << "user 3's orders: 3, 13 and 18 (8 was removed)";
  EXPECT_LE(queries, 8) << "customers from 4 members, orders from the members owning those users";
  // where_has across groups: the keys first, then the customers owning them.
  auto big_spenders = customers.query().where_has(customer_orders, [](QueryBuilder& q) { q.where("total", ">", 25); }).order_by("id").get();
  ASSERT_EQ(big_spenders.size(), 3u) << "orders 17-20 (total > 25) belong to users 2, 3, 4 and 0; 0 is no customer";
  EXPECT_EQ(big_spenders[0].id, 2);
  EXPECT_EQ(big_spenders[2].id, 4);
  EXPECT_THROW((void)db.model<Stray>(), ConfigError) << "a shard key on a plain connection";
}

// ---- the merge oracle ------------------------------------------------------

TEST(ShardMerge, GeneratedQueriesAgreeWithOneDatabaseOrAreRefused) {
  auto dir = scratch("oracle");
  Database db(four_files(dir, "hash"));
  auto [compared, refused] = test::merge_oracle(db.shards("g"), db.connection("one"), 20261201, 260, [](const std::string&) {
    return "CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT, cat INTEGER, price REAL, qty INTEGER NOT NULL, name TEXT)";
  });
  EXPECT_GE(compared, 200) << "refused " << refused;
  std::printf("figures: merge oracle (4 SQLite files): %d queries identical to one database, %d refused\n", compared, refused);
}

TEST(Concurrently, ReturnsEachResultInOrderAndRethrowsAFailureAfterAllRan) {
  auto dir = scratch("concurrently");
  Database db(four_files(dir));
  auto [one, text, rows] = db.concurrently([&] { return db.connection("s0").scalar("SELECT 1").as<int>(); },
                                           [] { return std::string("no database"); },
                                           [&] { return db.connection("s1").select("SELECT 2 AS two UNION ALL SELECT 3"); });
  EXPECT_EQ(one, 1);
  EXPECT_EQ(text, "no database");
  EXPECT_EQ(rows.size(), 2u);
  std::atomic<int> ran = 0;
  try {
    (void)db.concurrently([&] { return ++ran; },
                          [&]() -> int {
                            ++ran;
                            return db.connection("s2").scalar("SELECT * FROM no_such_table").as<int>();
                          },
                          [&] { return ++ran; });
    ADD_FAILURE() << "the failure was lost";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_table"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("s2"), std::string::npos) << "names the connection: " << e.what();
  }
  EXPECT_EQ(ran, 3) << "every piece ran to its end";
}

TEST_F(ShardRouting, KeysetPagesWalkEveryRowOnceInOrderWithBoundedPages) {
  auto& g = db->shards("g");
  std::vector<Fields> rows;
  std::mt19937 rng(7);
  for (std::int64_t id = 1; id <= 500; ++id) rows.push_back({{"id", id}, {"name", "n"}, {"score", static_cast<int>(rng() % 40)}});
  g.table("users").insert_many(rows);
  for (bool desc : {false, true}) {
    std::vector<std::pair<std::int64_t, std::int64_t>> walked;
    std::string token;
    int pages = 0;
    do {
      auto page = g.page_by_key(g.table("users").select({"id", "score"}).where("score", "<", 35), {"score", "id"}, 37, token, desc);
      EXPECT_LE(page.rows.size(), 37u);
      for (Row r : page.rows) walked.emplace_back(r[1].as<std::int64_t>(), r[0].as<std::int64_t>());
      token = page.next;
      ASSERT_LT(++pages, 100);
    } while (!token.empty());
    std::vector<std::pair<std::int64_t, std::int64_t>> all;
    for (const auto& r : rows)
      if (r[2].second.as<int>() < 35) all.emplace_back(r[2].second.as<std::int64_t>(), r[0].second.as<std::int64_t>());
    std::sort(all.begin(), all.end());
    if (desc) std::reverse(all.begin(), all.end());
    EXPECT_EQ(walked, all) << (desc ? "descending" : "ascending");
  }
  EXPECT_THROW((void)g.page_by_key(g.table("users"), {"id"}, 10, "zz"), UsageError);
  EXPECT_THROW((void)g.page_by_key(g.table("users"), {"id"}, 10, "6931"), UsageError) << "a token of another walk";
}

TEST_F(ShardRouting, APartialReadListsTheMemberThatFailedAndMergesTheRest) {
  auto& g = db->shards("g");
  for (std::int64_t id = 1; id <= 8; ++id) g.table("users").insert({{"id", id}, {"name", "x"}, {"score", id}});
  db->connection("s1").execute("DROP TABLE users");  // one member cannot answer
  EXPECT_THROW((void)g.table("users").get(), Error) << "by default a failed member fails the read";
  auto partial = g.get_partial(g.table("users").select({"id"}).order_by("id"));
  EXPECT_FALSE(partial.complete());
  ASSERT_EQ(partial.failed.size(), 1u);
  EXPECT_EQ(partial.failed[0].connection, "s1");
  EXPECT_NE(partial.failed[0].error.find("users"), std::string::npos) << partial.failed[0].error;
  ASSERT_EQ(partial.rows.size(), 6u) << "ids 1 and 5 lived on s1";
  EXPECT_EQ(partial.rows[0][0].as<int>(), 2);
  auto counted = g.get_partial(g.table("users").select({raw("COUNT(*) AS n")}));
  EXPECT_EQ(counted.rows[0][0].as<int>(), 6);
  // Asked alone, a member that is up but cannot run the query answers with its error: nothing else to merge.
  EXPECT_THROW((void)g.get_partial(g.table("users").where("id", 5)), Error);
  EXPECT_TRUE(g.get_partial(g.table("users").where("id", 6)).complete());
  // A mistake in the query, which no member can run, throws instead of listing every member as failed.
  EXPECT_THROW((void)g.get_partial(g.table("users").where_raw("no_such_column = 1")), Error);
  EXPECT_THROW((void)g.get_partial(g.table("users").select({raw("COUNT(*) AS n")}).where_raw("no_such_column > 0")), Error);
}

TEST_F(ShardRouting, ACursorOverTheGroupStreamsTheSameRowsAsGet) {
  auto& g = db->shards("g");
  std::vector<Fields> rows;
  for (std::int64_t id = 1; id <= 300; ++id)
    rows.push_back({{"id", id}, {"name", id % 7 ? Value("n" + std::to_string(id % 13)) : Value()}, {"score", id % 17}});
  g.table("users").insert_many(rows);
  auto as_text = [](auto&& source) {
    std::vector<std::string> out;
    for (Row r : source) {
      std::string s;
      for (const auto& v : r) s += v.to_string() + "|";
      out.push_back(s);
    }
    return out;
  };
  std::vector<std::function<QueryBuilder()>> queries = {
      [&] { return g.table("users").order_by("score").order_by_desc("id"); },
      [&] { return g.table("users").select({"id", "name"}).order_by("name").order_by("id").limit(25).offset(40); },
      [&] { return g.table("users").select({"name"}).distinct().order_by_desc("name"); },
      [&] { return g.table("users").select({"score", raw("COUNT(*) AS n")}).group_by({"score"}).order_by("score"); },
      [&] { return g.table("users").where("score", ">", 10).order_by("id").limit(1000); },
  };
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const auto expected = as_text(queries[i]().get());
    EXPECT_FALSE(expected.empty()) << i;
    auto cursor = queries[i]().cursor();
    EXPECT_EQ(as_text(cursor), expected) << "query " << i;
  }
  // Unordered: the same rows, member after member.
  auto all = as_text(g.table("users").get());
  auto streamed = as_text(g.table("users").cursor());
  std::sort(all.begin(), all.end());
  std::sort(streamed.begin(), streamed.end());
  EXPECT_EQ(streamed, all);
  const std::vector<Value> three{Value(3)};
  auto raw_rows = as_text(g.cursor("SELECT id FROM users WHERE score = ?", three));
  EXPECT_EQ(raw_rows.size(), 18u);
  EXPECT_THROW((void)g.cursor("SELECT id FROM users ORDER BY id"), UsageError);
}

// A Database assigned another keeps working through the groups and the
// coordinator it took (the ones it had go before the connections they use).
TEST(Concurrently, ADatabaseMovedOntoAnotherKeepsItsGroupsAndCoordinator) {
  auto dir = scratch("moved");
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  Database db(four_files(dir / "a"));
  Database other(four_files(dir / "b"));
  other.shards("g").every_shard().execute("CREATE TABLE items (id INTEGER PRIMARY KEY)");
  other.shards("g").table("items").insert_many({{{"id", 1}}, {{"id", 2}}, {{"id", 3}}});
  db = std::move(other);
  EXPECT_EQ(db.shards("g").table("items").count(), 3);
  EXPECT_EQ(db.queryable("g").select("SELECT id FROM items").size(), 3u);
  auto [n] = db.concurrently([&] { return db.shards("g").table("items").count(); });
  EXPECT_EQ(n, 3);
  Database& same = db;
  db = std::move(same);  // onto itself: nothing is lost
  EXPECT_EQ(db.shards("g").table("items").count(), 3);
}

TEST(Concurrently, PiecesThatFanOutThemselvesDoNotWaitForEachOther) {
  // More pieces than executor threads, each running concurrently() again:
  // a waiting caller runs queued work itself, so nothing waits forever.
  auto dir = scratch("nested");
  DatabaseConfig cfg = four_files(dir);
  cfg.transactions.parallelism = 2;
  Database db(cfg);
  std::atomic<int> leaves = 0;
  auto piece = [&] {
    auto [a, b, c] = db.concurrently([&] { return ++leaves; }, [&] { return ++leaves; },
                                     [&] { return db.shards("g").table("sqlite_master").count(); });
    return a + b + static_cast<int>(c);
  };
  auto [p1, p2, p3, p4, p5, p6] = db.concurrently(piece, piece, piece, piece, piece, piece);
  EXPECT_GT(p1 + p2 + p3 + p4 + p5 + p6, 0);
  EXPECT_EQ(leaves, 12);
}

// A reshard with a step between two members that cannot prepare (SQLite to
// SQLite) is refused before any step moves a row, not halfway.
TEST(Reshard, AStepBetweenTwoMembersThatCannotPrepareIsRefusedBeforeAnythingMoves) {
  auto dir = scratch("reshard_refused");
  DatabaseConfig cfg = four_files(dir, "hash");
  cfg.add("s4", sqlite((dir / "s4.db").string()));
  cfg.add_shard_group("g5", {"s0", "s1", "s2", "s3", "s4"}, "hash").key = "id";
  Database db(cfg);
  db.shards("g5").every_shard().execute("CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)");
  std::vector<Fields> rows;
  for (std::int64_t id = 1; id <= 400; ++id) rows.push_back({{"id", id}, {"v", id}});
  db.shards("g").table("items").insert_many(rows);
  std::vector<std::int64_t> before;
  for (int m = 0; m < 5; ++m) before.push_back(db.connection("s" + std::to_string(m)).scalar("SELECT count(*) FROM items").as<std::int64_t>());
  // A layout resharded onto itself moves nothing and deletes nothing.
  EXPECT_EQ(plan_reshard(db, "g", "g", "items").rows_moving, 0u);
  EXPECT_EQ(reshard(db, "g", "g", "items").rows_moved, 0u);
  ASSERT_GT(plan_reshard(db, "g", "g5", "items").rows_moving, 0u);
  try {
    (void)reshard(db, "g", "g5", "items");
    FAIL() << "a SQLite-to-SQLite step was not refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("nothing was moved"), std::string::npos) << e.what();
  }
  for (int m = 0; m < 5; ++m)
    EXPECT_EQ(db.connection("s" + std::to_string(m)).scalar("SELECT count(*) FROM items").as<std::int64_t>(), before[static_cast<std::size_t>(m)])
        << "s" << m << ": no row moved";
}

TEST(Reshard, MembersWhoseMigrationsDifferAreRefusedBeforeAnythingMoves) {
  // Schemas managed by migrations: a member that lacks one (the new member,
  // migrated before the others got a second file) is named, and nothing moves.
  auto dir = scratch("reshard_migrations");
  const fs::path folder = dir / "migrations";
  fs::create_directories(folder);
  std::ofstream(folder / "0001_items.up.sql") << "CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)";
  std::ofstream(folder / "0001_items.down.sql") << "DROP TABLE items";
  DatabaseConfig cfg = four_files(dir, "hash");
  cfg.add("s4", sqlite((dir / "s4.db").string()));
  for (auto& c : cfg.connections) c.migrations = folder.string();
  cfg.add_shard_group("g5", {"s0", "s1", "s2", "s3", "s4"}, "hash").key = "id";
  auto migrate = [&](Database& db, const std::vector<std::string>& which) {
    Migrator m(db);
    for (const auto& c : which) {
      const auto t = m.migrate(c);
      ASSERT_NE(t.state, MigrationTarget::State::failed) << c << ": " << t.error;
    }
  };
  {
    Database db(cfg);
    migrate(db, {"s0", "s1", "s2", "s3", "s4"});
    std::vector<Fields> rows;
    for (std::int64_t id = 1; id <= 200; ++id) rows.push_back({{"id", id}, {"v", id}});
    db.shards("g").table("items").insert_many(rows);
  }
  std::ofstream(folder / "0002_price.up.sql") << "ALTER TABLE items ADD COLUMN price REAL";
  std::ofstream(folder / "0002_price.down.sql") << "ALTER TABLE items DROP COLUMN price";
  Database db(cfg);
  migrate(db, {"s0", "s1", "s2", "s3"});  // s4 is behind
  try {
    (void)reshard(db, "g", "g5", "items");
    FAIL() << "members with different migrations were resharded";
  } catch (const UsageError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("s4: 1 migration(s)"), std::string::npos) << m;
    EXPECT_NE(m.find("nothing was moved"), std::string::npos) << m;
  }
  EXPECT_EQ(db.connection("s4").scalar("SELECT count(*) FROM items").as<int>(), 0);
  // Migrated alike, the reshard gets past the check (and is then refused for
  // its SQLite-to-SQLite steps, which cannot commit atomically).
  migrate(db, {"s4"});
  try {
    (void)reshard(db, "g", "g5", "items");
    FAIL() << "a SQLite-to-SQLite step was not refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot prepare a transaction"), std::string::npos) << e.what();
  }
}

// Shard groups on SQLite files (no servers): strategies, configuration
// errors, keyed routing checked on each member directly, refusals, preview,
// and the merge oracle: generated queries answered by the group and by one
// database holding every row must agree, or be refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "plexus/plexus.hpp"

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
  db->on_after_query([&](const QueryEvent& e) { seen.push_back(std::string(e.connection)); });
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
  EXPECT_NE(message([&] { (void)g.table("users").where("id", 3).update({{"id", 4}}); }).find("sets the shard key"),
            std::string::npos);
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

// ---- the merge oracle ------------------------------------------------------

namespace {

bool same_value(const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
  auto num = [](const Value& v) -> std::optional<double> {
    switch (v.type()) {
      case Value::Type::integer: return static_cast<double>(v.raw_int());
      case Value::Type::real: return v.raw_real();
      case Value::Type::text: {
        char* end = nullptr;
        const std::string s = v.raw_text();
        double d = std::strtod(s.c_str(), &end);
        if (!s.empty() && end == s.c_str() + s.size()) return d;
        return std::nullopt;
      }
      default: return std::nullopt;
    }
  };
  auto x = num(a), y = num(b);
  if (x && y) return std::fabs(*x - *y) <= 1e-9 * std::max({1.0, std::fabs(*x), std::fabs(*y)});
  return a.to_string() == b.to_string();
}

std::vector<std::string> canonical(const Result& r, const std::vector<std::size_t>& cols) {
  std::vector<std::string> out;
  for (Row row : r) {
    std::string s;
    for (auto c : cols) {
      const Value& v = row[c];
      if (v.type() == Value::Type::real) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", v.raw_real());
        s += buf;
      } else if (v.type() == Value::Type::integer) {
        s += std::to_string(v.raw_int());
      } else {
        s += v.to_string();
      }
      s += "|";
    }
    out.push_back(s);
  }
  return out;
}

struct Shape {
  std::function<void(QueryBuilder&)> build;
  std::string text;
  bool ordered_total = false;  // ORDER BY covers a unique column: rows compare in order
  std::vector<std::string> order_columns;
  bool limited = false;
};

}  // namespace

TEST(ShardMerge, GeneratedQueriesAgreeWithOneDatabaseOrAreRefused) {
  auto dir = scratch("oracle");
  Database db(four_files(dir, "hash"));
  auto& g = db.shards("g");
  auto& one = db.connection("one");
  const std::string ddl = "CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT, cat INTEGER, price REAL, qty INTEGER NOT NULL, name TEXT)";
  g.every_shard().execute(ddl);
  one.execute(ddl);
  std::mt19937_64 rng(20261201);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  const char* groups[] = {"a", "b", "c", "d", "B", "aa"};
  for (std::int64_t id = 1; id <= 400; ++id) {
    Fields row{{"id", id},
               {"grp", pick(10) == 0 ? Value() : Value(groups[pick(6)])},
               {"cat", pick(6) == 0 ? Value() : Value(pick(5))},
               {"price", pick(7) == 0 ? Value() : Value(static_cast<double>(pick(2000)) / 8.0)},
               {"qty", pick(20) - 5},
               {"name", pick(5) == 0 ? Value() : Value("n" + std::to_string(pick(50)))}};
    g.table("items").insert(row);
    one.table("items").insert(row);
  }
  for (int m = 0; m < 4; ++m)
    EXPECT_GT(db.connection("s" + std::to_string(m)).scalar("SELECT count(*) FROM items").as<int>(), 60) << "rows spread";

  const std::vector<std::string> columns = {"id", "grp", "cat", "price", "qty", "name"};
  const std::vector<std::string> numeric = {"cat", "price", "qty", "id"};
  int compared = 0, refused = 0;
  for (int n = 0; n < 260; ++n) {
    Shape s;
    std::vector<std::function<void(QueryBuilder&)>> steps;
    std::string text;
    // WHERE
    switch (pick(5)) {
      case 0: {
        int q = pick(10) - 3;
        steps.push_back([q](QueryBuilder& b) { b.where("qty", ">", q); });
        text += " qty>" + std::to_string(q);
        break;
      }
      case 1: steps.push_back([](QueryBuilder& b) { b.where_null("cat"); }); text += " cat null"; break;
      case 2: {
        std::string gname = groups[pick(6)];
        steps.push_back([gname](QueryBuilder& b) { b.where("grp", gname); });
        text += " grp=" + gname;
        break;
      }
      default: break;
    }
    const int kind = pick(3);
    if (kind == 0) {  // rows: columns, DISTINCT, ORDER BY, LIMIT/OFFSET
      std::vector<std::string> cols;
      for (const auto& c : columns)
        if (pick(2)) cols.push_back(c);
      const bool distinct = pick(4) == 0 && !cols.empty();
      std::vector<std::pair<std::string, bool>> order;
      for (int k = pick(4); k > 0; --k) order.emplace_back(columns[static_cast<std::size_t>(pick(6))], pick(2));
      if (distinct)  // DISTINCT orders by selected columns only
        std::erase_if(order, [&](const auto& o) { return std::find(cols.begin(), cols.end(), o.first) == cols.end(); });
      if (pick(2) && !distinct) order.emplace_back("id", pick(2));  // sometimes a total order
      std::optional<int> limit, offset;
      if (pick(2)) limit = pick(30);
      if (pick(3) == 0) offset = pick(400);
      steps.push_back([=](QueryBuilder& b) {
        if (!cols.empty()) {
          std::vector<Expr> e(cols.begin(), cols.end());
          b.select(e);
        }
        if (distinct) b.distinct();
        for (const auto& [c, desc] : order) b.order_by(c, desc ? "desc" : "asc");
        if (limit) b.limit(static_cast<std::uint64_t>(*limit));
        if (offset) b.offset(static_cast<std::uint64_t>(*offset));
      });
      text += " rows cols=" + std::to_string(cols.size()) + (distinct ? " distinct" : "") + " order=" +
              std::to_string(order.size()) + (limit ? " limit " + std::to_string(*limit) : "") +
              (offset ? " offset " + std::to_string(*offset) : "");
      for (const auto& [c, desc] : order) s.order_columns.push_back(c);
      s.ordered_total = !order.empty() && order.back().first == "id";
      s.limited = limit || offset;
    } else {  // aggregates, maybe grouped, HAVING, ORDER BY, LIMIT
      const bool grouped = kind == 2;
      std::vector<std::string> aggs;
      const char* fns[] = {"COUNT", "SUM", "MIN", "MAX", "AVG"};
      for (int k = 1 + pick(3); k > 0; --k) {
        std::string fn = fns[pick(5)];
        std::string col = pick(5) == 0 && fn == "COUNT" ? "*" : numeric[static_cast<std::size_t>(pick(4))];
        if (pick(12) == 0) col = "DISTINCT " + (pick(2) ? std::string("cat") : std::string("id"));
        if (col == "*" && fn != "COUNT") col = "qty";
        aggs.push_back(fn + "(" + col + ") AS a" + std::to_string(aggs.size()));
      }
      std::string having;
      std::optional<int> limit;
      bool order_by_group = false, order_by_agg = false, desc = pick(2);
      if (grouped && pick(2)) having = "a0";
      if (grouped) {
        order_by_group = pick(2);
        order_by_agg = !order_by_group && pick(2);
        if (pick(2)) limit = pick(5);
      }
      const int hv = pick(8);
      steps.push_back([=](QueryBuilder& b) {
        std::vector<Expr> e;
        if (grouped) e.emplace_back("grp");
        for (const auto& a : aggs) e.emplace_back(raw(a));
        b.select(e);
        if (grouped) b.group_by({"grp"});
        if (!having.empty()) b.having(having, ">", hv);
        if (order_by_group) b.order_by("grp", desc ? "desc" : "asc");
        if (order_by_agg) b.order_by("a0", desc ? "desc" : "asc").order_by("grp");
        if (limit) b.limit(static_cast<std::uint64_t>(*limit));
      });
      text += std::string(grouped ? " grouped" : " aggregate");
      for (const auto& a : aggs) text += " " + a;
      if (!having.empty()) text += " having a0>" + std::to_string(hv);
      if (order_by_group || order_by_agg) {
        s.order_columns = order_by_group ? std::vector<std::string>{"grp"} : std::vector<std::string>{"a0", "grp"};
        s.ordered_total = true;  // one row per group
      }
      s.limited = limit.has_value();
      if (!grouped) s.ordered_total = true;  // one row
    }
    auto build = [&](QueryBuilder b) {
      for (auto& st : steps) st(b);
      return b;
    };
    Result expected = build(one.table("items")).get();
    Result got;
    try {
      got = build(g.table("items")).get();
    } catch (const UsageError& e) {
      ++refused;
      const std::string why = e.what();
      // Refusals are for what cannot be merged exactly: DISTINCT aggregates of non-key columns.
      EXPECT_NE(why.find("DISTINCT"), std::string::npos) << text << ": " << why;
      continue;
    }
    ++compared;
    ASSERT_EQ(got.columns().size(), expected.columns().size()) << text;
    std::vector<std::size_t> all(expected.columns().size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    ASSERT_EQ(got.size(), expected.size()) << text;
    std::vector<std::size_t> keys;  // the order keys that are selected (others cannot be compared)
    for (const auto& c : s.order_columns)
      if (auto at = expected.columns().find(c)) keys.push_back(*at);
    if (s.ordered_total) {
      for (std::size_t r = 0; r < got.size(); ++r) {
        for (auto c : all) {
          EXPECT_TRUE(same_value(got[r][c], expected[r][c]))
              << text << " row " << r << " col " << c << ": " << got[r][c].to_string() << " vs " << expected[r][c].to_string();
        }
      }
    } else {
      if (!keys.empty()) EXPECT_EQ(canonical(got, keys), canonical(expected, keys)) << text;  // the order of the keys
      if (!s.limited) {
        auto a = canonical(got, all), b = canonical(expected, all);
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        EXPECT_EQ(a, b) << text;
      } else {  // which of several tied rows a LIMIT keeps is the database's choice: each must exist
        QueryBuilder unlimited = build(one.table("items"));
        unlimited.limit(1000000).offset(0);
        auto pool = canonical(unlimited.get(), all);
        std::multiset<std::string> available(pool.begin(), pool.end());
        for (const auto& row : canonical(got, all)) {
          auto it = available.find(row);
          EXPECT_NE(it, available.end()) << text << ": row " << row << " is not in the answer";
          if (it != available.end()) available.erase(it);
        }
      }
    }
  }
  EXPECT_GE(compared, 200) << "refused " << refused;
  std::printf("figures: merge oracle: %d queries identical to one database, %d refused\n", compared, refused);
}

// A shard group of mixed engines on real servers: the two PostgreSQL shard
// instances, a database of its own on the MariaDB server, and a SQLite file.
// Keyed routing is checked by asking each member directly; the merge oracle
// compares generated queries with one database holding every row; fan-out
// runs the members in parallel.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "plexus/plexus.hpp"
#include "shard/oracle.hpp"
#include "shard/servers_fixture.hpp"

using namespace plexus;
using plexus::test::ShardServers;
using namespace std::chrono;
namespace fs = std::filesystem;


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

// ---- typed columns, collations, LIKE and empty key lists -------------------------

namespace {

/// A value as the judge compares it: numbers by value (a DECIMAL is text on
/// one engine and a number on another), timestamps by instant, text as it is.
std::string judged(const Value& v) {
  if (v.is_null()) return "NULL";
  char buf[64];
  switch (v.type()) {
    case Value::Type::integer: std::snprintf(buf, sizeof buf, "%.4f", static_cast<double>(v.raw_int())); return buf;
    case Value::Type::real: std::snprintf(buf, sizeof buf, "%.4f", v.raw_real()); return buf;
    case Value::Type::timestamp: return format_timestamp(v.raw_timestamp());
    case Value::Type::text: {
      const std::string t = v.raw_text();
      char* end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end == t.c_str() + t.size() && (std::isdigit(static_cast<unsigned char>(t[0])) || t[0] == '-')) {
        std::snprintf(buf, sizeof buf, "%.4f", d);
        return buf;
      }
      try {
        return format_timestamp(v.as<Timestamp>());
      } catch (const ConversionError&) {
        return "'" + t + "'";
      }
    }
    default: return v.to_string();
  }
}

std::vector<std::string> judged_rows(const Result& r) {
  std::vector<std::string> out;
  for (Row row : r) {
    std::string s;
    for (std::size_t c = 0; c < row.size(); ++c) s += judged(row[c]) + "|";
    out.push_back(s);
  }
  return out;
}

/// "" when `got` is the answer `expected` is; else what differs. Rows in
/// order when `ordered`, else as a multiset.
std::string judge(const Result& got, const Result& expected, bool ordered) {
  if (got.columns().size() != expected.columns().size())
    return std::to_string(got.columns().size()) + " columns, expected " + std::to_string(expected.columns().size());
  auto a = judged_rows(got), b = judged_rows(expected);
  if (!ordered) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
  }
  if (a.size() != b.size()) return std::to_string(a.size()) + " rows, expected " + std::to_string(b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return "row " + std::to_string(i) + ": " + a[i] + " expected " + b[i];
  return "";
}

std::string typed_ddl(const std::string& conn, const std::string& table, const std::string& lite_cat = "TEXT") {
  if (conn == "my")
    return "CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, cat VARCHAR(10) COLLATE utf8mb4_bin, cost DECIMAL(10,2), "
           "seen_at DATETIME(6), name VARCHAR(20) COLLATE utf8mb4_bin)";
  if (conn.starts_with("pg"))
    return "CREATE TABLE " + table + " (id BIGINT PRIMARY KEY, cat VARCHAR(10), cost NUMERIC(10,2), seen_at TIMESTAMP(6), "
           "name VARCHAR(20))";
  return "CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, cat " + lite_cat + ", cost DECIMAL(10,2), seen_at TIMESTAMP, "
         "name TEXT)";
}

/// The typed table `table` made anew on every member of `g` and, when given, on `one`.
void make_typed(ShardGroup& g, Connection* one, const std::string& table, const std::string& lite_cat = "TEXT") {
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS " + table);
    g.member(m).execute(typed_ddl(g.member(m).name(), table, lite_cat));
  }
  if (!one) return;
  one->execute("DROP TABLE IF EXISTS " + table);
  one->execute(typed_ddl("pg", table));
}

/// The first key `g` places on member `m`.
std::int64_t key_on(ShardGroup& g, std::size_t m) {
  std::int64_t id = 1;
  while (g.index_of(id) != m) ++id;
  return id;
}

}  // namespace

// Generated queries over DECIMAL and TIMESTAMP columns on PostgreSQL x2 +
// MariaDB + SQLite, each compared with one PostgreSQL database holding every
// row: MIN/MAX/SUM of decimals and timestamps, HAVING on a decimal sum,
// ORDER BY them, GROUP BY text, LIKE (whose meaning differs per engine:
// refused), a key IN an empty list. Every answer is the one database's or a
// refusal; the judge is checked against answers made wrong on purpose.
TEST_F(ShardServers, TypedColumnsAgreeWithOneDatabaseOrAreRefused) {
  auto& g = db->shards("mixed");
  Connection& one = db->connection("pg");
  const std::string t = "typed_items";
  make_typed(g, &one, t);
  std::mt19937_64 rng(20261207);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  const char* cats[] = {"apple", "Apple", "banana", "Zebra", "cherry", "b"};
  const char* names[] = {"apple pie", "Apple tart", "banana", "cab", "ABC", "a_b", "x%y"};
  const Timestamp base = Timestamp(sys_days(year{2023} / 1 / 1));
  std::vector<Fields> rows;
  for (std::int64_t id = 1; id <= 300; ++id) {
    const int cents = pick(10) == 0 ? pick(100) : pick(9999999);  // 0.xx to 99999.99: digit counts vary
    const std::string cost = std::to_string(cents / 100) + "." + (cents % 100 < 10 ? "0" : "") + std::to_string(cents % 100);
    rows.push_back({{"id", id},
                    {"cat", pick(9) == 0 ? Value() : Value(cats[pick(6)])},
                    {"cost", pick(11) == 0 ? Value() : Value(cost)},
                    {"seen_at", pick(13) == 0 ? Value() : Value(base + minutes(pick(60 * 24 * 30)) + microseconds(pick(1000000)))},
                    {"name", Value(names[pick(7)])}});
  }
  g.table(t).insert_many(rows);
  one.table(t).insert_many(rows);

  // A group orders NULLs lowest on every member (first ascending, last
  // descending); PostgreSQL's default is the other way: the one database is asked for the group's order.
  const auto order = [](QueryBuilder& b, const std::string& column, bool desc, bool oracle) {
    if (oracle) b.order_by_raw(column + (desc ? " DESC NULLS LAST" : " ASC NULLS FIRST"));
    else b.order_by(column, desc ? "desc" : "asc");
  };
  int compared = 0, refused = 0, wrong = 0, judged_wrong_caught = 0, judged_wrong_tried = 0;
  for (int n = 0; n < 260; ++n) {
    std::function<void(QueryBuilder&, bool)> build;  // (builder, for the one database)
    std::string text;
    bool ordered = true;
    const int kind = pick(6);
    const int x = pick(100000);
    const Timestamp when = base + hours(pick(24 * 30));
    if (kind == 0) {  // aggregates of decimals and timestamps over the whole table
      const bool filtered = pick(2);
      build = [=](QueryBuilder& b, bool oracle) {
        b.select({raw("MIN(cost) AS a0"), raw("MAX(cost) AS a1"), raw("SUM(cost) AS a2"), raw("COUNT(cost) AS a3"),
                  raw("MIN(seen_at) AS a4"), raw("MAX(seen_at) AS a5")});
        if (filtered) b.where("seen_at", ">=", when);
        (void)oracle;
      };
      text = std::string("aggregates") + (filtered ? " since a time" : "");
    } else if (kind == 1) {  // grouped by text, HAVING on a decimal sum, ordered
      const bool by_sum = pick(2);
      build = [=](QueryBuilder& b, bool oracle) {
        b.select({"cat", raw("SUM(cost) AS a0"), raw("MAX(seen_at) AS a1"), raw("MIN(cost) AS a2")}).group_by({"cat"});
        // PostgreSQL takes no alias in HAVING: the one database gets the expression.
        if (x % 2) oracle ? (void)b.having_raw("SUM(cost) > ?", {x * 10}) : (void)b.having("a0", ">", x * 10);
        if (by_sum) order(b, "a0", true, oracle), order(b, "cat", false, oracle);
        else order(b, "cat", false, oracle);
      };
      text = "grouped by cat" + std::string(x % 2 ? " having sum > " + std::to_string(x * 10) : "") + (by_sum ? " by sum" : " by cat");
    } else if (kind == 2) {  // rows ordered by a decimal or a timestamp, then the key
      const bool by_cost = pick(2), desc = pick(2);
      const int limit = 1 + pick(40);
      build = [=](QueryBuilder& b, bool oracle) {
        b.select({"id", "cost", "seen_at", "cat"});
        order(b, by_cost ? "cost" : "seen_at", desc, oracle);
        b.order_by("id").limit(limit);
      };
      text = std::string("rows by ") + (by_cost ? "cost" : "seen_at") + (desc ? " desc" : "") + " limit " + std::to_string(limit);
    } else if (kind == 3) {  // LIKE: case-sensitive on PostgreSQL and MariaDB (binary), not on SQLite
      const char* patterns[] = {"a%", "A%", "%b%", "a\\_b", "%Pie%", "c_b"};
      const std::string p = patterns[pick(6)];
      build = [=](QueryBuilder& b, bool) { b.select({"id", "name"}).where("name", "like", p); };
      text = "name like " + p;
      ordered = false;
    } else if (kind == 4) {  // a key IN an empty list
      const int shape = pick(3);
      build = [=](QueryBuilder& b, bool oracle) {
        b.where_in("id", std::vector<Value>{});
        (void)oracle;
        if (shape == 0) b.select({raw("COUNT(*) AS n"), raw("SUM(cost) AS s"), raw("MAX(seen_at) AS m")});
        else if (shape == 1) order(b.select({"id", "cost"}), "cost", false, oracle);
        else b.select({"cat", raw("COUNT(*) AS n")}).group_by({"cat"});
      };
      text = "id in () shape " + std::to_string(shape);
    } else {  // rows filtered by a decimal, MIN/MAX of text in binary collations
      build = [=](QueryBuilder& b, bool oracle) {
        b.select({raw("MIN(cat) AS a0"), raw("MAX(cat) AS a1"), raw("MAX(cost) AS a2")}).where("cost", ">", x / 100);
        (void)oracle;
      };
      text = "min/max cat where cost > " + std::to_string(x / 100);
    }
    QueryBuilder expected_q = one.table(t);
    build(expected_q, true);
    const Result expected = expected_q.get();
    QueryBuilder got_q = g.table(t);
    build(got_q, false);
    Result got;
    try {
      got = got_q.get();
    } catch (const UsageError& e) {
      ++refused;
      EXPECT_EQ(kind, 3) << text << ": only LIKE is refused here (the members read it two ways): " << e.what();
      continue;
    }
    ++compared;
    const std::string verdict = judge(got, expected, ordered);
    if (!verdict.empty()) {
      ++wrong;
      ADD_FAILURE() << text << ": " << verdict;
    }
    // The cursor streams what get() returns.
    QueryBuilder streamed_q = g.table(t);
    build(streamed_q, false);
    Result streamed(got.columns());
    for (Row row : streamed_q.cursor()) {
      Value* dst = streamed.append_row();
      for (std::size_t c = 0; c < row.size(); ++c) dst[c] = row[c];
    }
    EXPECT_EQ(judge(streamed, got, ordered), "") << text << " (cursor)";
    // The judge checks itself: an answer made wrong on purpose is caught.
    if (got.size() > 0 && judged_wrong_tried < 40) {
      ++judged_wrong_tried;
      Result bad(got.columns());
      for (Row row : got) {
        Value* dst = bad.append_row();
        for (std::size_t c = 0; c < row.size(); ++c) dst[c] = row[c];
      }
      const std::size_t r = static_cast<std::size_t>(pick(static_cast<int>(bad.size())));
      const std::size_t c = static_cast<std::size_t>(pick(static_cast<int>(bad.columns().size())));
      Value* cells = bad.append_row();  // a row too many …
      if (judged_wrong_tried % 2) {
        for (std::size_t k = 0; k < bad.columns().size(); ++k) cells[k] = bad[r][k];
      } else {  // … or one value changed (and the extra row dropped again)
        Result changed(got.columns());
        for (std::size_t i = 0; i < got.size(); ++i) {
          Value* d = changed.append_row();
          for (std::size_t k = 0; k < got.columns().size(); ++k) d[k] = got[i][k];
          if (i == r) d[c] = got[i][c].is_null() ? Value(1) : Value("changed " + got[i][c].to_string());
        }
        bad = std::move(changed);
      }
      judged_wrong_caught += !judge(bad, expected, ordered).empty();
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_GE(compared, 150) << "refused " << refused;
  EXPECT_EQ(judged_wrong_caught, judged_wrong_tried) << "the judge let an answer made wrong pass";
  // Direct cases from the reports: a key IN () on every read path, on a group.
  EXPECT_EQ(g.table(t).where_in("id", std::vector<Value>{}).count(), 0);
  EXPECT_TRUE(g.table(t).where_in("id", std::vector<Value>{}).sum("cost").is_null());
  std::size_t streamed_rows = 0;
  for (Row row : g.table(t).where_in("id", std::vector<Value>{}).cursor()) streamed_rows += row.size() > 0;
  EXPECT_EQ(streamed_rows, 0u);
  std::printf("figures: typed merge oracle (PostgreSQL x2, MariaDB, SQLite; DECIMAL, TIMESTAMP, LIKE, IN ()): %d queries "
              "identical to one PostgreSQL database, %d refused (LIKE), 0 wrong; the judge caught %d of %d answers made "
              "wrong on purpose\n",
              compared, refused, judged_wrong_caught, judged_wrong_tried);
  for (std::size_t m = 0; m < g.size(); ++m) g.member(m).execute("DROP TABLE IF EXISTS " + t);
  one.execute("DROP TABLE IF EXISTS " + t);
}

// A member whose text orders by another collation (SQLite COLLATE NOCASE, or
// MariaDB's default …_ci) is found from its schema, not from the rows: with
// one row per member, ORDER BY, MIN/MAX and GROUP BY on that column are
// refused; the same queries on a binary column are answered.
TEST_F(ShardServers, AMemberWithAnotherCollationIsFoundFromItsSchemaAndRefused) {
  auto& g = db->shards("mixed");
  const std::string t = "typed_nocase";
  make_typed(g, nullptr, t, "TEXT COLLATE NOCASE");
  // One row per member, so no member's own order can give it away.
  const char* cats[] = {"Zebra", "Banana", "apple", "cherry"};
  for (std::size_t m = 0; m < g.size(); ++m) g.table(t).insert({{"id", key_on(g, m)}, {"cat", cats[m]}, {"name", cats[m]}});
  const auto refused = [&](const std::function<void(QueryBuilder&)>& build, const std::string& what) {
    QueryBuilder q = g.table(t);
    build(q);
    try {
      (void)q.get();
      ADD_FAILURE() << what << " was answered although 'lite' orders cat by NOCASE";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("collation 'NOCASE'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("'lite'"), std::string::npos) << e.what();
    }
  };
  refused([](QueryBuilder& q) { q.select({"cat"}).order_by("cat").limit(1); }, "ORDER BY cat LIMIT 1");
  refused([](QueryBuilder& q) { q.select({raw("MIN(cat) AS m")}); }, "MIN(cat)");
  refused([](QueryBuilder& q) { q.select({"cat", raw("COUNT(*) AS n")}).group_by({"cat"}); }, "GROUP BY cat");
  EXPECT_THROW((void)g.table(t).select({"cat"}).order_by("cat").cursor(), UsageError) << "the cursor too";
  // name is binary everywhere: answered, in byte order.
  auto first = g.table(t).select({"name"}).order_by("name").limit(1).get();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0][0].as<std::string>(), "Banana");
  // A query the key routes to the SQLite member alone is answered by it, as itself: nothing is merged.
  std::size_t lite = 0;
  while (g.member_names()[lite] != "lite") ++lite;
  const std::int64_t on_lite = key_on(g, lite);
  EXPECT_EQ(g.table(t).where("id", on_lite).select({"cat"}).order_by("cat").get().size(), 1u);
  for (std::size_t m = 0; m < g.size(); ++m) g.member(m).execute("DROP TABLE IF EXISTS " + t);
}

// Mixed-type merges compare in the column's type: a DECIMAL as text on
// PostgreSQL and as a number on SQLite, a timestamp aggregate as text on SQLite.
TEST_F(ShardServers, DecimalsAndTimestampsFromDifferentEnginesCompareByValue) {
  auto& g = db->shards("mixed");
  Connection& one = db->connection("pg");
  const std::string t = "typed_values";
  make_typed(g, &one, t);
  // Member by member: the largest cost and the latest time sit on the SQLite member.
  const Timestamp base = Timestamp(sys_days(year{2023} / 1 / 21));
  std::vector<Fields> rows;
  for (std::size_t m = 0; m < g.size(); ++m) {
    const bool lite = g.member_names()[m] == "lite";
    rows.push_back({{"id", key_on(g, m)}, {"cat", "c"}, {"cost", lite ? "99.50" : "20.00"},
                    {"seen_at", lite ? base + hours(24 * 10) : base}, {"name", "n"}});
  }
  g.table(t).insert_many(rows);
  one.table(t).insert_many(rows);
  for (const auto& select : {std::vector<Expr>{raw("MAX(cost) AS m")}, std::vector<Expr>{raw("MAX(seen_at) AS m")},
                             std::vector<Expr>{raw("MIN(cost) AS m")}, std::vector<Expr>{raw("SUM(cost) AS m")}}) {
    auto got = g.table(t).select(select).get();
    auto want = one.table(t).select(select).get();
    EXPECT_EQ(judge(got, want, true), "") << select.front().text();
  }
  auto big = g.table(t).select({"cat", raw("SUM(cost) AS s")}).group_by({"cat"}).having("s", ">", 1000000).get();
  EXPECT_EQ(big.size(), 0u) << "a sum of 159.50 is not over a million";
  auto by_cost = g.table(t).select({"id", "cost"}).order_by("cost", "desc").get();
  EXPECT_EQ(judge(by_cost, one.table(t).select({"id", "cost"}).order_by("cost", "desc").get(), true), "");
  for (std::size_t m = 0; m < g.size(); ++m) g.member(m).execute("DROP TABLE IF EXISTS " + t);
  one.execute("DROP TABLE IF EXISTS " + t);
}

// ---- shard-key changes move the row -------------------------------------------------

namespace {

struct MovedOrder {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  double total = 0;
  std::string status;
  static constexpr auto schema =
      plexus::schema("moved_orders", col<&MovedOrder::id>("id", primary_key), col<&MovedOrder::user_id>("user_id"),
                     col<&MovedOrder::total>("total"), col<&MovedOrder::status>("status"))
          .connection("by_user")
          .shard_key("user_id");
};

}  // namespace

TEST_F(ShardServers, ChangingAShardKeyMovesTheRowInOneCommitAcrossEngines) {
  auto& g = db->shards("mixed");  // PostgreSQL x2, MariaDB, SQLite; hash of id
  for (std::size_t m = 0; m < g.size(); ++m) {
    g.member(m).execute("DROP TABLE IF EXISTS items");
    g.member(m).execute(ddl(g.member_names()[m]));
  }
  for (std::int64_t id = 1; id <= 40; ++id)
    g.table("items").insert({{"id", id}, {"grp", "g"}, {"cat", id % 3}, {"price", id * 1.5}, {"qty", id}, {"name", "n"}});
  auto member_of = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(g.member_names().begin(), g.member_names().end(), name) - g.member_names().begin());
  };
  // A key on `from` and an unused key on `to`.
  auto key_on = [&](const std::string& member, std::int64_t from) {
    for (std::int64_t k = from;; ++k)
      if (g.index_of(k) == member_of(member)) return k;
  };
  auto where_is = [&](std::int64_t id) {
    std::vector<std::string> at;
    for (std::size_t m = 0; m < g.size(); ++m)
      if (g.member(m).scalar("SELECT count(*) FROM items WHERE id = ?", {id}, Intent::write).as<int>() > 0)
        at.push_back(g.member_names()[m]);
    return at;
  };
  const std::int64_t a = key_on("pg1", 1), to_my = key_on("my", 1000), to_lite = key_on("lite", 2000);
  // PostgreSQL → MariaDB, every other column kept, the set one changed.
  EXPECT_EQ(g.table("items").where("id", a).update({{"id", to_my}, {"name", "moved"}}), 1u);
  EXPECT_TRUE(where_is(a).empty());
  EXPECT_EQ(where_is(to_my), std::vector<std::string>{"my"});
  const Result moved = g.member(member_of("my")).select("SELECT qty, price, name FROM items WHERE id = ?", {to_my});
  EXPECT_EQ(moved[0][0].as<std::int64_t>(), a);
  EXPECT_DOUBLE_EQ(moved[0][1].as<double>(), a * 1.5);
  EXPECT_EQ(moved[0][2].as<std::string>(), "moved");
  // MariaDB → SQLite: SQLite takes part as the one participant that cannot prepare.
  EXPECT_EQ(g.table("items").where("id", to_my).update({{"id", to_lite}}), 1u);
  EXPECT_EQ(where_is(to_lite), std::vector<std::string>{"lite"});
  // Onto a key its new member already holds: the insert fails, so nothing moved.
  const std::int64_t b = key_on("pg2", 1), taken = key_on("pg1", a + 1);  // a left pg1 above
  ASSERT_LE(taken, 40);
  EXPECT_THROW((void)g.table("items").where("id", b).update({{"id", taken}}), Error);
  EXPECT_EQ(where_is(b), std::vector<std::string>{"pg2"}) << "a failed move leaves the row where it was";
  EXPECT_EQ(g.table("items").count(), 40);
  // Onto itself (the same key): a plain update on its member.
  EXPECT_EQ(g.table("items").where("id", b).update({{"id", b}, {"name", "same"}}), 1u);
  EXPECT_EQ(where_is(b), std::vector<std::string>{"pg2"});

  // Two threads move one row to two new keys at once: it ends in exactly one place.
  const std::int64_t c = key_on("pg1", taken + 1), c1 = key_on("pg2", 3000), c2 = key_on("my", 4000);
  ASSERT_LE(c, 40);
  std::atomic<int> done{0}, failed{0};
  auto mover = [&](std::int64_t to) {
    try {
      done += static_cast<int>(g.table("items").where("id", c).update({{"id", to}}));
    } catch (const Error&) {
      ++failed;  // the other one held the row: an error to retry, nothing half-moved
    }
  };
  std::thread t1(mover, c1), t2(mover, c2);
  t1.join();
  t2.join();
  EXPECT_EQ(done.load(), 1) << failed.load() << " failed";
  EXPECT_EQ(where_is(c).size() + where_is(c1).size() + where_is(c2).size(), 1u);
  EXPECT_EQ(g.table("items").count(), 40);
}

TEST_F(ShardServers, AModelSavedWithAnotherShardKeyMovesToItsNewMember) {
  DatabaseConfig cfg;
  cfg.add("pg1", pg1);
  cfg.add("pg2", pg2);
  cfg.add("my", my).database = "plexus_shard";
  cfg.add_shard_group("by_user", {"pg1", "pg2", "my"}, "modulo").key = "user_id";
  Database d(cfg);
  auto& g = d.shards("by_user");
  g.every_shard().execute("DROP TABLE IF EXISTS moved_orders");
  g.every_shard().execute("CREATE TABLE moved_orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, total DOUBLE PRECISION, status VARCHAR(20))");
  auto orders = d.model<MovedOrder>();
  (void)orders.create(MovedOrder{1, 3, 10.0, "open"});  // user 3: member 0 (pg1)
  (void)orders.create(MovedOrder{2, 4, 20.0, "open"});  // user 4: member 1 (pg2)
  auto count_on = [&](const std::string& m, std::int64_t id) {
    return d.connection(m).scalar("SELECT count(*) FROM moved_orders WHERE id = ?", {id}, Intent::write).as<int>();
  };
  auto e = orders.find_or_fail(1);
  e.user_id = 5;  // member 2 (MariaDB)
  e.status = "moved";
  orders.save(e);
  EXPECT_EQ(count_on("pg1", 1), 0);
  EXPECT_EQ(count_on("my", 1), 1);
  EXPECT_EQ(orders.find_or_fail(1).status, "moved");
  MovedOrder plain{2, 6, 21.0, "plain"};  // user 6: member 0 (pg1)
  orders.save(plain);
  EXPECT_EQ(count_on("pg2", 2), 0);
  EXPECT_EQ(count_on("pg1", 2), 1);
  EXPECT_DOUBLE_EQ(orders.find_or_fail(2).total, 21.0);
  g.every_shard().execute("DROP TABLE moved_orders");
}

// Rows with generated DECIMAL, TIMESTAMP(6), BLOB (NUL and high bytes
// included), UTF-8 text and DOUBLE values, each moved three times by a
// change of its shard key across PostgreSQL, MariaDB and SQLite members:
// after every move the row is on exactly its new member and every value is
// the one it was inserted with (decimals and instants by value).
TEST_F(ShardServers, MovedRowsKeepTheirTypedValuesAcrossEngines) {
  auto& g = db->shards("mixed");
  const std::string t = "typed_moves";
  for (std::size_t m = 0; m < g.size(); ++m) {
    const std::string& name = g.member_names()[m];
    g.member(m).execute("DROP TABLE IF EXISTS " + t);
    if (name == "my")
      g.member(m).execute("CREATE TABLE " + t + " (id BIGINT PRIMARY KEY, d DECIMAL(14,4), ts DATETIME(6), b LONGBLOB, "
                          "txt VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, f DOUBLE)");
    else if (name.starts_with("pg"))
      g.member(m).execute("CREATE TABLE " + t + " (id BIGINT PRIMARY KEY, d NUMERIC(14,4), ts TIMESTAMP(6), b BYTEA, "
                          "txt VARCHAR(40), f DOUBLE PRECISION)");
    else
      g.member(m).execute("CREATE TABLE " + t + " (id INTEGER PRIMARY KEY, d NUMERIC, ts TIMESTAMP, b BLOB, txt TEXT, f REAL)");
  }
  std::mt19937_64 rng(20261207);
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  const char* texts[] = {"plain", "é café", "日本語", "emoji 🚀", "quote ' and \" and \\", "", "tab\tnew\nline"};
  struct Original {
    std::int64_t id;
    Value d, ts, b, txt, f;
  };
  std::vector<Original> rows;
  std::int64_t next_key = 1;
  auto key_on_member = [&](std::size_t m) {
    while (g.index_of(next_key) != m) ++next_key;
    return next_key++;
  };
  for (int i = 0; i < 24; ++i) {
    Original o;
    o.id = key_on_member(pick(g.size()));
    char dec[40];
    std::snprintf(dec, sizeof dec, "%s%llu.%04llu", pick(2) ? "-" : "", static_cast<unsigned long long>(pick(1000000000)),
                  static_cast<unsigned long long>(pick(10000)));
    o.d = pick(6) == 0 ? Value() : Value(std::string(dec));
    char when[40];
    std::snprintf(when, sizeof when, "%04llu-%02llu-%02llu %02llu:%02llu:%02llu.%06llu",
                  static_cast<unsigned long long>(1971 + pick(66)), static_cast<unsigned long long>(1 + pick(12)),
                  static_cast<unsigned long long>(1 + pick(28)), static_cast<unsigned long long>(pick(24)),
                  static_cast<unsigned long long>(pick(60)), static_cast<unsigned long long>(pick(60)),
                  static_cast<unsigned long long>(pick(1000000)));
    o.ts = pick(6) == 0 ? Value() : Value(std::string(when));
    std::vector<std::uint8_t> bytes(pick(48));
    for (auto& byte : bytes) byte = static_cast<std::uint8_t>(pick(4) == 0 ? 0 : pick(256));
    o.b = pick(6) == 0 ? Value() : Value(Bytes(std::move(bytes)));
    o.txt = pick(6) == 0 ? Value() : Value(std::string(texts[pick(std::size(texts))]));
    o.f = pick(6) == 0 ? Value() : Value(static_cast<double>(static_cast<std::int64_t>(rng())) / 1e7);
    g.table(t).insert({{"id", o.id}, {"d", o.d}, {"ts", o.ts}, {"b", o.b}, {"txt", o.txt}, {"f", o.f}});
    rows.push_back(std::move(o));
  }
  auto check = [&](const Original& o, const std::string& when) {
    std::size_t found = 0;
    for (std::size_t m = 0; m < g.size(); ++m) {
      const Result r = g.member(m).query("SELECT d, ts, b, txt, f FROM " + t + " WHERE id = ?", {o.id}, Intent::write);
      if (r.empty()) continue;
      ++found;
      const std::string where = when + ": id " + std::to_string(o.id) + " on " + g.member_names()[m];
      EXPECT_EQ(m, g.index_of(o.id)) << where;
      EXPECT_EQ(judged(r[0][0]), judged(o.d)) << where;
      EXPECT_EQ(judged(r[0][1]), judged(o.ts)) << where;
      EXPECT_EQ(r[0][2].is_null(), o.b.is_null()) << where;
      if (!o.b.is_null() && !r[0][2].is_null()) {
        EXPECT_TRUE(r[0][2].as<Bytes>() == o.b.as<Bytes>()) << where << ": the bytes";
      }
      EXPECT_EQ(r[0][3].is_null(), o.txt.is_null()) << where;
      if (!o.txt.is_null() && !r[0][3].is_null()) {
        EXPECT_EQ(r[0][3].as<std::string>(), o.txt.as<std::string>()) << where;
      }
      EXPECT_EQ(r[0][4].is_null(), o.f.is_null()) << where;
      if (!o.f.is_null() && !r[0][4].is_null()) {
        EXPECT_DOUBLE_EQ(r[0][4].as<double>(), o.f.as<double>()) << where;
      }
    }
    EXPECT_EQ(found, 1u) << when << ": id " << o.id << " in exactly one place";
  };
  for (const auto& o : rows) check(o, "inserted");
  for (int round = 1; round <= 3; ++round) {
    for (auto& o : rows) {
      std::size_t to = pick(g.size());
      if (to == g.index_of(o.id)) to = (to + 1) % g.size();
      const std::int64_t new_id = key_on_member(to);
      EXPECT_EQ(g.table(t).where("id", o.id).update({{"id", new_id}}), 1u) << o.id << " -> " << new_id;
      o.id = new_id;
      check(o, "move round " + std::to_string(round));
    }
  }
  EXPECT_EQ(g.table(t).count(), static_cast<std::int64_t>(rows.size()));
  for (std::size_t m = 0; m < g.size(); ++m) g.member(m).execute("DROP TABLE IF EXISTS " + t);
}

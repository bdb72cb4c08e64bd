// Golden SQL per dialect: no database needed.
#include <gtest/gtest.h>

#include <random>

#include "plexus/core/error.hpp"
#include "plexus/query/builder.hpp"

using namespace plexus;

namespace {

struct Golden {
  std::string sqlite, postgres, mysql;
};

void expect_sql(const QueryBuilder& q, const Golden& g) {
  EXPECT_EQ(q.to_sql("sqlite").sql, g.sqlite);
  EXPECT_EQ(q.to_sql("postgres").sql, g.postgres);
  EXPECT_EQ(q.to_sql("mysql").sql, g.mysql);
}

}  // namespace

TEST(BuilderSql, SelectWhereOrderLimit) {
  QueryBuilder q("user_metrics");
  q.select({"user_id", "total_purchases"}).where("total_purchases", ">", 0).order_by_desc("total_purchases").limit(100);
  expect_sql(q, {R"(SELECT "user_id", "total_purchases" FROM "user_metrics" WHERE "total_purchases" > ? ORDER BY "total_purchases" DESC LIMIT 100)",
                 R"(SELECT "user_id", "total_purchases" FROM "user_metrics" WHERE "total_purchases" > $1 ORDER BY "total_purchases" DESC LIMIT 100)",
                 "SELECT `user_id`, `total_purchases` FROM `user_metrics` WHERE `total_purchases` > ? ORDER BY `total_purchases` DESC LIMIT 100"});
  EXPECT_EQ(q.to_sql("postgres").bindings, std::vector<Value>{Value(0)});
}

TEST(BuilderSql, WhereFamilyAndNestedGroups) {
  QueryBuilder sub("orders");
  sub.select({"user_id"}).where("total_amount", ">=", 100);
  QueryBuilder q("users");
  q.where("is_admin", true)
      .where([](QueryBuilder& g) { g.where("name", "like", "J%").or_where("email", "like", "%@example.com"); })
      .where_in("id", {1, 2, 3})
      .where_in("id", sub)
      .where_not_in("status", {"banned"})
      .where_null("deleted_at")
      .where_not_null("email")
      .where_between("age", 18, 65)
      .where_raw("lower(city) = ?", {"lima"})
      .or_where("id", 42);
  auto pg = q.to_sql("postgres");
  EXPECT_EQ(pg.sql,
            R"(SELECT * FROM "users" WHERE "is_admin" = $1 AND ("name" LIKE $2 OR "email" LIKE $3) AND "id" IN ($4, $5, $6))"
            R"( AND "id" IN (SELECT "user_id" FROM "orders" WHERE "total_amount" >= $7) AND "status" NOT IN ($8))"
            R"( AND "deleted_at" IS NULL AND "email" IS NOT NULL AND "age" BETWEEN $9 AND $10 AND (lower(city) = $11) OR "id" = $12)");
  ASSERT_EQ(pg.bindings.size(), 12u);
  EXPECT_EQ(pg.bindings[6], Value(100));
  EXPECT_EQ(pg.bindings[10], Value("lima"));
  auto my = q.to_sql("mysql");
  EXPECT_NE(my.sql.find("`id` IN (SELECT `user_id` FROM `orders` WHERE `total_amount` >= ?)"), std::string::npos);
  EXPECT_EQ(my.bindings, pg.bindings);
}

TEST(BuilderSql, NullComparisonsBecomeIsNull) {
  QueryBuilder q("t");
  q.where("a", nullptr).where("b", "<>", nullptr);
  EXPECT_EQ(q.to_sql("sqlite").sql, R"(SELECT * FROM "t" WHERE "a" IS NULL AND "b" IS NOT NULL)");
}

TEST(BuilderSql, EmptyInListIsFalseNotInvalid) {
  QueryBuilder q("t");
  q.where_in("id", {}).or_where_null("x");
  EXPECT_EQ(q.to_sql("sqlite").sql, R"(SELECT * FROM "t" WHERE 1 = 0 OR "x" IS NULL)");
}

TEST(BuilderSql, JoinsGroupHavingDistinctAliases) {
  QueryBuilder q("users as u");
  q.distinct()
      .select({"u.id", "u.name AS author", raw("COUNT(p.id) AS posts")})
      .left_join("posts as p", "p.user_id", "=", "u.id")
      .group_by({"u.id", "u.name"})
      .having_raw("COUNT(p.id) > ?", {5})
      .order_by("u.name");
  expect_sql(q, {R"(SELECT DISTINCT "u"."id", "u"."name" AS "author", COUNT(p.id) AS posts FROM "users" AS "u" LEFT JOIN "posts" AS "p" ON "p"."user_id" = "u"."id" GROUP BY "u"."id", "u"."name" HAVING (COUNT(p.id) > ?) ORDER BY "u"."name" ASC)",
                 R"(SELECT DISTINCT "u"."id", "u"."name" AS "author", COUNT(p.id) AS posts FROM "users" AS "u" LEFT JOIN "posts" AS "p" ON "p"."user_id" = "u"."id" GROUP BY "u"."id", "u"."name" HAVING (COUNT(p.id) > $1) ORDER BY "u"."name" ASC)",
                 "SELECT DISTINCT `u`.`id`, `u`.`name` AS `author`, COUNT(p.id) AS posts FROM `users` AS `u` LEFT JOIN `posts` AS `p` ON `p`.`user_id` = `u`.`id` GROUP BY `u`.`id`, `u`.`name` HAVING (COUNT(p.id) > ?) ORDER BY `u`.`name` ASC"});
}

TEST(BuilderSql, OffsetWithoutLimitPerDialect) {
  QueryBuilder q("t");
  q.offset(20);
  expect_sql(q, {R"(SELECT * FROM "t" LIMIT -1 OFFSET 20)", R"(SELECT * FROM "t" OFFSET 20)",
                 "SELECT * FROM `t` LIMIT 18446744073709551615 OFFSET 20"});
  q.limit(10);
  EXPECT_EQ(q.to_sql("postgres").sql, R"(SELECT * FROM "t" LIMIT 10 OFFSET 20)");
}

TEST(BuilderSql, InsertManyReturningUpdateDelete) {
  QueryBuilder q("events");
  std::vector<Fields> rows = {{{"event_type", "a"}, {"user_id", 1}}, {{"event_type", "b"}, {"user_id", 2}}};
  std::string id = "id";
  auto pg = q.insert_sql(grammar_for("postgres"), rows, std::span<const std::string>(&id, 1));
  EXPECT_EQ(pg.sql, R"(INSERT INTO "events" ("event_type", "user_id") VALUES ($1, $2), ($3, $4) RETURNING "id")");
  EXPECT_EQ(pg.bindings.size(), 4u);
  EXPECT_EQ(q.insert_sql(grammar_for("mysql"), rows).sql,
            "INSERT INTO `events` (`event_type`, `user_id`) VALUES (?, ?), (?, ?)");
  EXPECT_THROW((void)q.insert_sql(grammar_for("mysql"), rows, std::span<const std::string>(&id, 1)), UsageError);

  QueryBuilder u("user_snapshot");
  u.where("user_id", 7);
  EXPECT_EQ(u.update_sql(grammar_for("postgres"), {{"name", "x"}, {"synced_at", "now"}}).sql,
            R"(UPDATE "user_snapshot" SET "name" = $1, "synced_at" = $2 WHERE "user_id" = $3)");
  EXPECT_EQ(u.delete_sql(grammar_for("mysql")).sql, "DELETE FROM `user_snapshot` WHERE `user_id` = ?");
}

TEST(BuilderSql, UpsertPerDialect) {
  QueryBuilder q("user_snapshot");
  std::vector<Fields> rows = {{{"user_id", 1}, {"name", "a"}}};
  std::vector<std::string> by = {"user_id"}, upd = {"name"};
  EXPECT_EQ(q.upsert_sql(grammar_for("sqlite"), rows, by, upd).sql,
            R"(INSERT INTO "user_snapshot" ("user_id", "name") VALUES (?, ?) ON CONFLICT ("user_id") DO UPDATE SET "name" = excluded."name")");
  EXPECT_EQ(q.upsert_sql(grammar_for("postgres"), rows, by, upd).sql,
            R"(INSERT INTO "user_snapshot" ("user_id", "name") VALUES ($1, $2) ON CONFLICT ("user_id") DO UPDATE SET "name" = excluded."name")");
  EXPECT_EQ(q.upsert_sql(grammar_for("mysql"), rows, by, upd).sql,
            "INSERT INTO `user_snapshot` (`user_id`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)");
  EXPECT_TRUE(q.upsert_sql(grammar_for("postgres"), rows, by, {}).sql.ends_with(R"(VALUES ($1, $2) ON CONFLICT ("user_id") DO NOTHING)"));
}

TEST(BuilderSql, AggregatesAndGroupedCounts) {
  QueryBuilder q("orders");
  q.where("user_id", 5).order_by("id").limit(3);
  EXPECT_EQ(q.aggregate_sql(grammar_for("sqlite"), "COUNT", "*").sql,
            R"(SELECT COUNT(*) AS "aggregate" FROM (SELECT * FROM "orders" WHERE "user_id" = ? ORDER BY "id" ASC LIMIT 3) AS "plexus_sub")");
  QueryBuilder grouped("orders");
  grouped.group_by({"user_id"});
  EXPECT_EQ(grouped.aggregate_sql(grammar_for("mysql"), "COUNT", "*").sql,
            "SELECT COUNT(*) AS `aggregate` FROM (SELECT `user_id` FROM `orders` GROUP BY `user_id`) AS `plexus_sub`");
  QueryBuilder plain("orders");
  plain.where("user_id", 5);
  EXPECT_EQ(plain.aggregate_sql(grammar_for("postgres"), "SUM", "total_amount").sql,
            R"(SELECT SUM("total_amount") AS "aggregate" FROM "orders" WHERE "user_id" = $1)");
}

TEST(BuilderSql, RawExpressionsRenumberPlaceholders) {
  QueryBuilder q("orders");
  q.select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent")})
      .where("user_id", 9)
      .where(raw("CONCAT(id, '-', user_id) LIKE ?", {"%9%"}))
      .where_raw("note <> 'what?'");
  auto pg = q.to_sql("postgres");
  EXPECT_EQ(pg.sql,
            R"(SELECT COUNT(*) AS total_orders, SUM(total_amount) AS total_spent FROM "orders" WHERE "user_id" = $1 AND (CONCAT(id, '-', user_id) LIKE $2) AND (note <> 'what?'))");
  EXPECT_THROW((void)QueryBuilder("t").where_raw("a = ? and b = ?", {1}).to_sql("sqlite"), UsageError);
}

TEST(BuilderSql, IlikeIsPortable) {
  QueryBuilder q("events");
  q.where("event_type", "ilike", "%Purchase%");
  EXPECT_EQ(q.to_sql("postgres").sql, R"(SELECT * FROM "events" WHERE "event_type" ILIKE $1)");
  EXPECT_EQ(q.to_sql("mysql").sql, "SELECT * FROM `events` WHERE LOWER(`event_type`) LIKE LOWER(?)");
}

TEST(BuilderSql, InjectionThroughNamesIsRefused) {
  const std::vector<std::string> evil = {"users; DROP TABLE users",   "name\" OR 1=1 --", "id`",
                                         "a.b.c",                     "1abc",             "",
                                         "name AS x; DROP TABLE t",   "users--",          "*/",
                                         "col /* comment */",         "\"quoted\"",       "na me"};
  for (const auto& e : evil) {
    EXPECT_THROW(QueryBuilder{e}, UsageError) << e;
    QueryBuilder q("users");
    EXPECT_THROW(q.where(e, 1), UsageError) << e;
    EXPECT_THROW(q.order_by(e), UsageError) << e;
    EXPECT_THROW(q.select({Expr(e)}), UsageError) << e;
    EXPECT_THROW((void)q.update_sql(grammar_for("sqlite"), {{e, 1}}), UsageError) << e;
    EXPECT_THROW(q.where_in(e, {1}), UsageError) << e;
    EXPECT_THROW(q.where_null(e), UsageError) << e;
    EXPECT_THROW(q.where_between(e, 1, 2), UsageError) << e;
    EXPECT_THROW(q.join(e, "a.id", "=", "b.id"), UsageError) << e;
    EXPECT_THROW(q.join("t", e, "=", "b.id"), UsageError) << e;
    EXPECT_THROW(q.left_join("t", "a.id", "=", e), UsageError) << e;
    EXPECT_THROW(q.group_by({e}), UsageError) << e;
    EXPECT_THROW(q.having(e, ">", 1), UsageError) << e;
    EXPECT_THROW(q.add_select(Expr(e)), UsageError) << e;
    EXPECT_THROW((void)q.insert_sql(grammar_for("mysql"), {{{e, 1}}}), UsageError) << e;
    std::vector<std::string> bad{e}, good{"id"};
    std::vector<Fields> row{{{"id", 1}}};
    EXPECT_THROW((void)q.upsert_sql(grammar_for("postgres"), row, bad, good), UsageError) << e;
    EXPECT_THROW((void)q.upsert_sql(grammar_for("postgres"), row, good, bad), UsageError) << e;
    EXPECT_THROW((void)q.aggregate_sql(grammar_for("sqlite"), "SUM", e), UsageError) << e;
    std::string ret = e;
    EXPECT_THROW((void)q.insert_sql(grammar_for("postgres"), row, std::span<const std::string>(&ret, 1)), UsageError) << e;
  }
  try {
    QueryBuilder("users").where("id; DROP TABLE users", 1);
    FAIL();
  } catch (const UsageError& err) {
    EXPECT_NE(std::string(err.what()).find("is not a valid identifier"), std::string::npos);
  }
  EXPECT_THROW(QueryBuilder("t").where("a", "; DROP", 1), UsageError);
  EXPECT_THROW(QueryBuilder("t").order_by("a", "desc; DROP"), UsageError);
}

// A builder compares a table name with the last plain one it checked on the
// thread before checking it again. Generated names of the same length as the
// one before, one character changed (to a plain one, or to one a plain name
// has not), are refused or compiled exactly as when no name came before.
TEST(BuilderSql, ATableNameLikeTheLastOneIsStillChecked) {
  std::mt19937 rng(20261203);
  const std::string plain = "abcxyzABCXYZ_0189";
  const std::string other = std::string(" ;\".-*`'") + '\0' + "\xc3\xa9\x7f";
  auto compile = [](const std::string& name) -> std::string {
    try {
      return QueryBuilder(name).where("id", 1).to_sql("sqlite").sql;
    } catch (const UsageError& e) {
      return std::string("refused: ") + e.what();
    }
  };
  int refused = 0, accepted = 0;
  for (int round = 0; round < 600; ++round) {
    const std::size_t n = 1 + rng() % 60;
    std::string base(1, "abc_"[rng() % 4]);
    while (base.size() < n) base += plain[rng() % plain.size()];
    std::string variant = base;
    const std::size_t at = rng() % n;
    variant[at] = rng() % 2 ? plain[rng() % plain.size()] : other[rng() % other.size()];
    (void)compile(std::string(n + 1, 'q'));  // no name of this length checked last
    const std::string expected = compile(variant);
    ASSERT_EQ(compile(base).rfind("refused", 0), std::string::npos) << base;
    EXPECT_EQ(compile(variant), expected) << "'" << variant << "' after '" << base << "'";
    (expected.rfind("refused", 0) == 0 ? refused : accepted) += 1;
  }
  EXPECT_GT(refused, 150);
  EXPECT_GT(accepted, 150);
}

TEST(BuilderSql, UnboundBuilderSaysHowToBindIt) {
  QueryBuilder q("users");
  try {
    (void)q.get();
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("db.table(\"users\", \"connection\")"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)q.to_sql("oracle"), ConfigError);
}

TEST(BuilderSql, WritesWithoutWhereAreRefusedUnlessEveryRowIsMeant) {
  QueryBuilder q("orders");
  EXPECT_THROW((void)q.update_sql(grammar_for("sqlite"), {{"status", "void"}}), UsageError);
  EXPECT_THROW((void)q.delete_sql(grammar_for("postgres")), UsageError);
  try {
    (void)q.delete_sql(grammar_for("mysql"));
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("all_rows()"), std::string::npos) << e.what();
  }
  q.all_rows();
  EXPECT_EQ(q.delete_sql(grammar_for("mysql")).sql, "DELETE FROM `orders`");
  EXPECT_EQ(q.update_sql(grammar_for("sqlite"), {{"status", "void"}}).sql, "UPDATE \"orders\" SET \"status\" = ?");
}

TEST(BuilderSql, BracedParamsOwnTheirValues) {
  Params p = {1, "two", 3.5};
  Params copy = p;
  std::vector<Value> expect{Value(1), Value("two"), Value(3.5)};
  ASSERT_EQ(p.span().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(p.span()[i], expect[i]);
    EXPECT_EQ(copy.span()[i], expect[i]);
  }
  EXPECT_NE(copy.span().data(), p.span().data()) << "a copy holds its own values";
  Params many = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(many.span().size(), 6u);
  EXPECT_EQ(many.span()[5], Value(6));
}

// name_form() decides in one scan what check_name() and identifier() decide in
// several; generated names must get the same verdict and the same quoting.
TEST(BuilderSql, GeneratedNamesGetTheSameVerdictFromEveryCheck) {
  std::mt19937_64 rng(20261201);
  const std::vector<std::string> pieces = {"a", "Z", "_", "id", "users", "9", ".", ".", " ", " AS ", " as ", "*",
                                           "\"", "`", "'", ";", "-", std::string(1, '\0'), "\xc3\xa9", "t1",
                                           std::string(130, 'x')};
  std::size_t accepted = 0, qualified = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string name;
    for (std::size_t n = 1 + rng() % 5; n > 0; --n) name += pieces[rng() % pieces.size()];
    bool plain = false, checked = true;
    try {
      plain = check_name(name);
    } catch (const UsageError&) {
      checked = false;
    }
    NameForm form{};
    try {
      form = name_form(name);
    } catch (const UsageError&) {
      ASSERT_FALSE(checked) << "name_form refused what check_name accepts: '" << name << "'";
      ++refused;
      continue;
    }
    ASSERT_TRUE(checked) << "name_form accepted what check_name refuses: '" << name << "'";
    EXPECT_EQ(plain, form == NameForm::plain) << name;
    ++accepted;
    qualified += form == NameForm::qualified;
    for (const char* engine : {"sqlite", "postgres", "mysql"}) {
      std::string expected, got;
      grammar_for(engine).identifier(expected, name);
      grammar_for(engine).checked_identifier(got, name, form);
      ASSERT_EQ(got, expected) << engine << " '" << name << "'";
    }
  }
  EXPECT_GT(qualified, 50u);
  EXPECT_GT(refused, 1000u);
  EXPECT_GT(accepted, 1000u);
}

// The builder's inline storage behaves as a vector whichever side of its
// inline capacity it is on: generated push/copy/move/assign sequences are
// compared with std::vector (run under ASan in ./scripts/test).
TEST(SmallVector, BehavesAsAVectorAcrossItsInlineCapacity) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    plexus::detail::SmallVector<std::string, 2> small;
    std::vector<std::string> model;
    for (int step = 0; step < 12; ++step) {
      const std::string v = "value-long-enough-to-allocate-" + std::to_string(rng() % 1000);
      switch (rng() % 6) {
        case 0:
        case 1:
          small.emplace_back(v);
          model.push_back(v);
          break;
        case 2:
          if (!model.empty()) {  // an argument that refers to an element, also when the storage grows
            small.push_back(small.front());
            model.push_back(model.front());
          }
          break;
        case 3: {
          auto copy = small;
          auto moved = std::move(copy);
          small = moved;
          plexus::detail::SmallVector<std::string, 2> target;
          target.emplace_back("old");
          target = std::move(moved);
          small = std::move(target);
          break;
        }
        case 4:
          small.assign(model.begin(), model.end());
          break;
        case 5:
          if (rng() % 4 == 0) {
            small.clear();
            model.clear();
          }
          break;
      }
      ASSERT_EQ(std::vector<std::string>(small.begin(), small.end()), model) << "round " << round << " step " << step;
    }
  }
}

namespace {

/// One generated builder call, the same for every builder it is applied to.
using Call = std::function<void(QueryBuilder&)>;

Call generated_call(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  static const std::string long_name(60, 'c');  // two of these fill a builder's journal
  static const char* const columns[] = {"id", "name", "users.email", "total_amount", "status", "c"};
  auto column = [&]() -> std::string { return pick(8) == 0 ? long_name : columns[pick(6)]; };
  auto value = [&]() -> Value {
    switch (pick(4)) {
      case 0: return Value();
      case 1: return Value("v" + std::to_string(pick(100)));
      default: return Value(static_cast<std::int64_t>(pick(1000)) - 500);
    }
  };
  static const FixedColumns fixed({"id", "name"});
  static const FixedColumns fixed_raw({Expr("id"), Expr(raw("? AS tag", {Value(7)}))});
  static const char* const ops[] = {"=", "<>", "!=", "<", ">=", "like", "NOT LIKE", "ILike"};
  const std::string c = column();
  switch (pick(22)) {
    case 0: return [](QueryBuilder& q) { q.select({"id", "name"}); };
    case 1: return [c](QueryBuilder& q) { q.select({c.c_str()}); };
    case 2: {
      std::vector<Expr> list{Expr(c), Expr("status")};
      if (pick(3) == 0) list.emplace_back(raw("COUNT(?) AS n", {Value(1)}));
      return [list](QueryBuilder& q) { q.select(list); };
    }
    case 3: return [c](QueryBuilder& q) { q.add_select(c); };
    case 4: return [](QueryBuilder& q) { q.add_select(raw("1 AS one")); };
    case 5: return [raw_list = pick(2) == 0](QueryBuilder& q) { q.select(raw_list ? fixed_raw : fixed); };
    case 6: return [on = pick(2) == 0](QueryBuilder& q) { q.distinct(on); };
    case 7: return [c, op = ops[pick(8)], v = value()](QueryBuilder& q) { q.where(c, op, v); };
    case 8: return [c, v = value()](QueryBuilder& q) { q.or_where(c, v); };
    case 9: return [c, op = ops[pick(8)], v = value()](QueryBuilder& q) { q.or_where(c, op, v); };
    case 10: return [c, k = pick(3)](QueryBuilder& q) { k == 0 ? q.where_null(c) : k == 1 ? q.where_not_null(c) : q.or_where_null(c); };
    case 11: {
      std::vector<Value> list;
      for (int n = pick(4); n > 0; --n) list.push_back(value());
      return [c, list, k = pick(3)](QueryBuilder& q) {
        k == 0 ? q.where_in(c, list) : k == 1 ? q.where_not_in(c, list) : q.or_where_in(c, list);
      };
    }
    case 12: return [c, a = value(), b = value(), not_ = pick(2) == 0](QueryBuilder& q) {
      not_ ? q.where_not_between(c, a, b) : q.where_between(c, a, b);
    };
    case 13: return [v = value()](QueryBuilder& q) { q.where_raw("id > ?", {v}); };
    case 14: return [c, v = value()](QueryBuilder& q) {
      q.where([&](QueryBuilder& g) { g.where(c, v).or_where_null("status"); });
    };
    case 15: return [c](QueryBuilder& q) {
      QueryBuilder sub("orders");
      sub.select({"user_id"}).where("total_amount", ">", 5);
      q.where_in(c, sub);
    };
    case 16: return [c, desc = pick(2) == 0](QueryBuilder& q) { q.order_by(c, desc ? "DESC" : "asc"); };
    case 17: return [](QueryBuilder& q) { q.order_by_raw("LENGTH(name) DESC"); };
    case 18: return [n = static_cast<std::uint64_t>(pick(50))](QueryBuilder& q) { q.limit(n); };
    case 19: return [n = static_cast<std::uint64_t>(pick(50))](QueryBuilder& q) { q.offset(n); };
    case 20: return [](QueryBuilder& q) { q.reorder(); };
    default: return [k = pick(3)](QueryBuilder& q) {
      if (k == 0) q.join("orders", "orders.user_id", "=", "users.id");
      else if (k == 1) q.group_by({"status"});
      else q.group_by({"status"}).having("status", "<>", "x");
    };
  }
}

void expect_same_sql(const QueryBuilder& recorded, const QueryBuilder& built, const std::string& trace) {
  SCOPED_TRACE(trace);
  for (const char* dialect : {"sqlite", "postgres", "mysql"}) {
    const Query a = QueryBuilder(recorded).to_sql(dialect);  // a copy: `recorded` stays recorded
    const Query b = built.to_sql(dialect);
    ASSERT_EQ(a.sql, b.sql) << dialect;
    EXPECT_EQ(a.bindings, b.bindings) << dialect;
  }
}

}  // namespace

// A builder records the calls it can and builds its parts only when it must
// (a call it cannot record, to_sql(), a write). Whatever the calls, in any
// order, with a copy taken anywhere along the way and both sides going on
// differently, a recorded builder compiles to exactly what a builder built
// part by part from the first call does.
TEST(BuilderSql, RecordedBuildersCompileAsBuildersBuiltPartByPart) {
  std::mt19937 rng(20261202);
  for (int round = 0; round < 1500; ++round) {
    QueryBuilder recorded("users");
    QueryBuilder built("users");
    (void)built.to_sql("sqlite");  // builds its parts now: every later call goes to them
    std::vector<Call> calls;
    for (int n = static_cast<int>(rng() % 10); n > 0; --n) calls.push_back(generated_call(rng));
    const std::size_t fork = calls.empty() ? 0 : rng() % calls.size();
    std::optional<QueryBuilder> recorded_copy, built_copy;
    std::vector<Call> copy_calls;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (i == fork) {
        recorded_copy.emplace(recorded);
        built_copy.emplace(built);
        for (int n = static_cast<int>(rng() % 4); n > 0; --n) copy_calls.push_back(generated_call(rng));
      }
      calls[i](recorded);
      calls[i](built);
    }
    expect_same_sql(recorded, built, "round " + std::to_string(round));
    if (recorded_copy) {
      for (const Call& c : copy_calls) {
        c(*recorded_copy);
        c(*built_copy);
      }
      expect_same_sql(*recorded_copy, *built_copy, "copy of round " + std::to_string(round));
    }
    if (HasFatalFailure()) return;
  }
}

// A builder checks a name eight characters at a time as it copies it into its
// journal. Generated names (lengths 1 to 40, across every word boundary; plain
// ones, and plain ones with one character from either side of each accepted
// range put anywhere) compile, or fail, exactly as through name_form()
// character by character, as a column of select() (a C string) and of where()
// (a string_view, as the table is).
TEST(BuilderSql, GeneratedNamesAreCheckedAsNameFormChecksThem) {
  const std::string plain = "abcxyzABCXYZ_0189";
  const std::string edges = std::string("/09:@AZ[_`az{.\" -*\x7f") + "\x80\xc3\xa9\xff";
  std::mt19937 rng(20261202);
  int accepted = 0, refused = 0;
  for (int round = 0; round < 6000; ++round) {
    const std::size_t n = 1 + rng() % 40;
    std::string name;
    for (std::size_t i = 0; i < n; ++i) name += plain[rng() % plain.size()];
    if (rng() % 2) name[rng() % n] = edges[rng() % edges.size()];
    auto run = [&](QueryBuilder q) -> std::string {
      try {
        q.select({name.c_str()}).where(name, 1);  // a bad name fails here, at the call
      } catch (const Error& e) {
        return std::string("error: ") + e.what();
      }
      return q.to_sql("postgres").sql;
    };
    QueryBuilder built("t");
    (void)built.to_sql("sqlite");  // parts from the first call: names go through name_form()
    const std::string expected = run(built);
    ASSERT_EQ(run(QueryBuilder("t")), expected) << "name '" << name << "'";
    expected.starts_with("error: ") ? ++refused : ++accepted;
  }
  EXPECT_GT(accepted, 2000);  // both sides of the check were tried
  EXPECT_GT(refused, 1000);
}

// A Record holds its row's values itself: inline up to six columns, on the
// heap past that. Generated rows of 1 to 12 columns (texts longer than a
// string's inline buffer among them) keep every value and name through a
// copy, a move, and the Result they came from going away.
TEST(BuilderSql, RecordsKeepTheirRowWhateverItsWidth) {
  std::mt19937 rng(20261202);
  for (std::size_t width = 1; width <= 12; ++width) {
    std::vector<std::string> names;
    std::vector<Value> values;
    for (std::size_t i = 0; i < width; ++i) {
      names.push_back("c" + std::to_string(i));
      switch (rng() % 3) {
        case 0: values.emplace_back(static_cast<std::int64_t>(rng())); break;
        case 1: values.emplace_back(std::string(rng() % 40, static_cast<char>('a' + i))); break;
        default: values.emplace_back(); break;  // NULL
      }
    }
    std::optional<Record> kept;
    {
      Result r{Columns(names)};
      Value* row = r.append_row();
      for (std::size_t i = 0; i < width; ++i) row[i] = values[i];
      kept.emplace(std::move(r));
    }
    const Record copy = *kept;
    const Record moved = std::move(*kept);
    for (const Record* rec : {&copy, &moved}) {
      ASSERT_EQ(rec->row().size(), width);
      for (std::size_t i = 0; i < width; ++i) {
        EXPECT_EQ((*rec)[i], values[i]) << "width " << width << ", column " << i;
        EXPECT_EQ((*rec)[names[i]], values[i]);
      }
    }
  }
  EXPECT_THROW(Record(Result(Columns({"id"}))), UsageError);  // no row to keep
}

// A negative row count is refused (it used to wrap round to 2^64 - 1, which
// MariaDB took as "every row"); generated counts either way.
TEST(BuilderSql, NegativeLimitsAndOffsetsAreRefused) {
  std::mt19937_64 rng(33);
  for (int i = 0; i < 200; ++i) {
    const auto n = static_cast<std::int64_t>(rng() % 2000) - 1000;
    QueryBuilder q("t");
    if (n < 0) {
      EXPECT_THROW(q.limit(n), UsageError) << n;
      EXPECT_THROW(q.offset(n), UsageError) << n;
    } else {
      q.limit(n).offset(n);
      EXPECT_EQ(q.to_sql("postgres").sql, "SELECT * FROM \"t\" LIMIT " + std::to_string(n) + " OFFSET " + std::to_string(n));
    }
  }
  try {
    QueryBuilder("t").limit(-1);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("leave limit() out"), std::string::npos) << e.what();
  }
  const std::uint64_t wrapped = static_cast<std::uint64_t>(-1);
  EXPECT_THROW(QueryBuilder("t").limit(static_cast<std::int64_t>(wrapped)), UsageError);
}

// An IN list longer than a statement may bind is refused with the engine's
// limit named, before anything runs; one that fits compiles.
TEST(BuilderSql, InListsPastTheEnginesParameterLimitAreRefused) {
  for (const auto& [engine, limit] : std::vector<std::pair<std::string, std::size_t>>{{"sqlite", 32766}, {"postgres", 65535}, {"mysql", 65535}}) {
    std::vector<Value> fits(limit - 1, Value(1)), too_many(limit + 1, Value(1));
    QueryBuilder ok("t");
    ok.where("a", 0).where_in("id", fits);
    EXPECT_EQ(ok.to_sql(engine).bindings.size(), limit);
    QueryBuilder over("t");
    over.where_in("id", too_many);
    try {
      (void)over.to_sql(engine);
      ADD_FAILURE() << engine << ": " << too_many.size() << " values compiled";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("at most " + std::to_string(limit)), std::string::npos) << e.what();
    }
  }
}

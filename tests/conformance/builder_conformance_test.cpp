// The query builder's behaviour, the same on every engine.
#include "conformance_fixture.hpp"

#include <random>

using namespace plexus;
using namespace plexus::test;

namespace {

void create_orders(Connection& c, const std::string& table, const EngineContext& ctx) {
  c.execute("CREATE TABLE " + table + " (id " + std::string(ctx.name == "sqlite" ? "INTEGER PRIMARY KEY" : ctx.name == "mysql" ? "BIGINT AUTO_INCREMENT PRIMARY KEY" : "BIGSERIAL PRIMARY KEY") +
            ", user_id INTEGER NOT NULL, status VARCHAR(20) NOT NULL, total_amount " + ctx.real +
            ", note VARCHAR(100), UNIQUE (user_id, status))");
}

std::vector<Fields> sample_orders() {
  return {{{"user_id", 1}, {"status", "paid"}, {"total_amount", 10.0}, {"note", nullptr}},
          {{"user_id", 1}, {"status", "open"}, {"total_amount", 20.0}, {"note", "gift"}},
          {{"user_id", 2}, {"status", "paid"}, {"total_amount", 30.0}, {"note", nullptr}},
          {{"user_id", 3}, {"status", "paid"}, {"total_amount", 40.0}, {"note", "rush"}},
          {{"user_id", 3}, {"status", "void"}, {"total_amount", 50.0}, {"note", nullptr}}};
}

}  // namespace

TEST_P(Conformance, BuilderSelectsWithTheWhereFamily) {
  create_orders(*conn, table, ctx);
  EXPECT_EQ(conn->table(table).insert_many(sample_orders()), 5u);
  auto t = [&] { return conn->table(table); };
  EXPECT_EQ(t().where("status", "paid").count(), 3);
  EXPECT_EQ(t().where("total_amount", ">", 25).count(), 3);
  EXPECT_EQ(t().where_in("user_id", {1, 3}).count(), 4);
  EXPECT_EQ(t().where_not_in("status", {"paid", "open"}).count(), 1);
  EXPECT_EQ(t().where_null("note").count(), 3);
  EXPECT_EQ(t().where_not_null("note").count(), 2);
  EXPECT_EQ(t().where_between("total_amount", 20, 40).count(), 3);
  EXPECT_EQ(t().where("note", "like", "g%").count(), 1);
  EXPECT_EQ(t().where("status", "ilike", "PAID").count(), 3);
  EXPECT_EQ(t().where("user_id", 1).where([](QueryBuilder& g) { g.where("status", "open").or_where("total_amount", ">", 5); }).count(), 2);
  EXPECT_EQ(t().where("user_id", 2).or_where("user_id", 3).count(), 3);
  EXPECT_EQ(t().where_raw("total_amount * 2 > ?", {70}).count(), 2);
  auto sub = conn->table(table).select({"user_id"}).where("status", "void");
  EXPECT_EQ(t().where_in("user_id", sub).count(), 2);

  auto rows = t().select({"user_id", "total_amount"}).where("status", "paid").order_by_desc("total_amount").limit(2).get();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["user_id"].as<int>(), 3);
  EXPECT_DOUBLE_EQ(rows[1]["total_amount"].as<double>(), 30.0);
  auto first = t().where("status", "open").first();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->get<std::string>("note"), "gift");
  EXPECT_FALSE(t().where("status", "nope").first().has_value());
  EXPECT_EQ(t().where("status", "open").value("note").as<std::string>(), "gift");
  EXPECT_TRUE(t().where("user_id", 2).exists());
  EXPECT_FALSE(t().where("user_id", 99).exists());
}

TEST_P(Conformance, BuilderAggregatesGroupsAndJoins) {
  create_orders(*conn, table, ctx);
  conn->table(table).insert_many(sample_orders());
  auto t = [&] { return conn->table(table); };
  EXPECT_DOUBLE_EQ(t().sum("total_amount").as<double>(), 150.0);
  EXPECT_DOUBLE_EQ(t().avg("total_amount").as<double>(), 30.0);
  EXPECT_DOUBLE_EQ(t().min("total_amount").as<double>(), 10.0);
  EXPECT_DOUBLE_EQ(t().max("total_amount").as<double>(), 50.0);
  EXPECT_EQ(t().count("note"), 2);

  auto groups = t().select({"user_id", raw("COUNT(*) AS n"), raw("SUM(total_amount) AS spent")})
                    .group_by({"user_id"})
                    .having_raw("COUNT(*) > ?", {1})
                    .order_by("user_id")
                    .get();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0]["user_id"].as<int>(), 1);
  EXPECT_EQ(groups[1]["n"].as<int>(), 2);
  EXPECT_DOUBLE_EQ(groups[1]["spent"].as<double>(), 90.0);
  EXPECT_EQ(t().group_by({"user_id"}).count(), 3) << "count of a grouped query counts groups";

  auto joined = conn->table(table + " AS a")
                    .select({"a.id", "b.status AS other"})
                    .join(table + " AS b", "b.user_id", "=", "a.user_id")
                    .where("a.status", "paid")
                    .where("b.status", "<>", "paid")
                    .order_by("b.status")
                    .get();
  ASSERT_EQ(joined.size(), 2u);
  EXPECT_EQ(joined[0]["other"].as<std::string>(), "open");
  EXPECT_EQ(joined[1]["other"].as<std::string>(), "void");
}

TEST_P(Conformance, BuilderWritesUpdatesDeletesAndUpserts) {
  create_orders(*conn, table, ctx);
  auto t = [&] { return conn->table(table); };
  auto id = t().insert_get_id({{"user_id", 7}, {"status", "open"}, {"total_amount", 1.5}});
  EXPECT_GT(id, 0);
  EXPECT_EQ(t().where("id", id).value("user_id").as<int>(), 7);
  EXPECT_EQ(t().insert({{"user_id", 8}, {"status", "open"}, {"total_amount", 2.5}}).affected_rows(), 1u);
  EXPECT_EQ(t().where("user_id", 7).update({{"status", "paid"}, {"note", "updated"}}), 1u);
  EXPECT_EQ(t().where("user_id", 7).value("note").as<std::string>(), "updated");
  EXPECT_EQ(t().where("user_id", 8).increment("total_amount", 10), 1u);
  EXPECT_DOUBLE_EQ(t().where("user_id", 8).value("total_amount").as<double>(), 12.5);

  // Upsert: one new row, one conflicting row updated in place.
  t().upsert({{{"user_id", 8}, {"status", "open"}, {"total_amount", 99.0}},
              {{"user_id", 9}, {"status", "open"}, {"total_amount", 5.0}}},
             {"user_id", "status"}, {"total_amount"});
  EXPECT_EQ(t().count(), 3);
  EXPECT_DOUBLE_EQ(t().where("user_id", 8).value("total_amount").as<double>(), 99.0);

  EXPECT_EQ(t().where("user_id", ">=", 8).remove(), 2u);
  EXPECT_EQ(t().count(), 1);
}

TEST_P(Conformance, InsertManySplitsIntoBatchesAllOrNothing) {
  create_orders(*conn, table, ctx);
  std::vector<Fields> rows;
  for (int i = 0; i < 2500; ++i) rows.push_back({{"user_id", i}, {"status", "s"}, {"total_amount", i * 0.5}, {"note", nullptr}});
  int statements = 0;
  conn->on_before_query([&](const QueryEvent& e) {
    if (e.sql.starts_with("INSERT")) ++statements;
  });
  EXPECT_EQ(conn->table(table).insert_many(rows), 2500u);
  EXPECT_EQ(statements, 3) << "1000 rows per statement";
  EXPECT_EQ(conn->table(table).count(), 2500);
  EXPECT_DOUBLE_EQ(conn->table(table).sum("total_amount").as<double>(), 0.5 * 2499 * 2500 / 2);

  // A duplicate in the last batch: none of the batches stays.
  std::vector<Fields> more;
  for (int i = 0; i < 2100; ++i) more.push_back({{"user_id", 10000 + i}, {"status", "s"}, {"total_amount", 1.0}, {"note", nullptr}});
  more.back() = {{"user_id", 0}, {"status", "s"}, {"total_amount", 1.0}, {"note", nullptr}};
  EXPECT_THROW(conn->table(table).insert_many(more), ConstraintError);
  EXPECT_EQ(conn->table(table).count(), 2500);
}

TEST_P(Conformance, PaginateChunkAndCursor) {
  create_orders(*conn, table, ctx);
  std::vector<Fields> rows;
  for (int i = 1; i <= 23; ++i) rows.push_back({{"user_id", i}, {"status", "s"}, {"total_amount", 1.0}, {"note", nullptr}});
  conn->table(table).insert_many(rows);
  auto page = conn->table(table).order_by("user_id").paginate(3, 10);
  EXPECT_EQ(page.total, 23u);
  EXPECT_EQ(page.last_page, 3u);
  ASSERT_EQ(page.items.size(), 3u);
  EXPECT_EQ(page.items[0]["user_id"].as<int>(), 21);

  std::vector<std::size_t> sizes;
  conn->table(table).order_by("user_id").chunk(10, [&](const Result& r) {
    sizes.push_back(r.size());
    return true;
  });
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 3}));
  EXPECT_THROW(conn->table(table).chunk(10, [](const Result&) { return true; }), UsageError);

  int n = 0;
  auto cur = conn->table(table).where("user_id", ">", 20).order_by("user_id").cursor();
  for (Row r : cur) n += r["user_id"].as<int>();
  EXPECT_EQ(n, 21 + 22 + 23);
}

TEST_P(Conformance, BuilderInsideATransaction) {
  create_orders(*conn, table, ctx);
  EXPECT_THROW(conn->transaction([&](Transaction& tx) {
    tx.table(table).insert({{"user_id", 1}, {"status", "x"}, {"total_amount", 1.0}});
    EXPECT_EQ(tx.table(table).count(), 1);
    throw std::runtime_error("undo");
  }),
               std::runtime_error);
  EXPECT_EQ(conn->table(table).count(), 0);
  EXPECT_EQ(db->table(table, "main").count(), 0) << "db.table(name, connection) is the same table";
}

namespace {

/// A plain struct read by column name through its schema (table name unused by select_as).
struct OrderRow {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string status;
  double total_amount = 0;
  std::optional<std::string> note;
  static constexpr auto schema =
      plexus::schema("orders", col<&OrderRow::id>("id", primary_key), col<&OrderRow::user_id>("user_id"),
                     col<&OrderRow::status>("status"), col<&OrderRow::total_amount>("total_amount"),
                     col<&OrderRow::note>("note"));
};

struct Amount {
  double value = 0;
  static Amount from_row(Row r) { return Amount{r[0].as<double>()}; }
};

}  // namespace

TEST_P(Conformance, TypedReadsAndPreparedQueries) {
  create_orders(*conn, table, ctx);
  conn->table(table).insert_many(sample_orders());

  // Tuples read by position.
  auto pairs = conn->select_as<std::tuple<std::int64_t, std::string>>(
      "SELECT user_id, status FROM " + table + " WHERE total_amount > ? ORDER BY total_amount", {25});
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[0], std::make_tuple(std::int64_t{2}, std::string("paid")));
  EXPECT_EQ(std::get<1>(pairs[2]), "void");

  // Model structs read by name: column order and extra columns do not matter;
  // a column not selected keeps its default.
  auto orders = conn->select_as<OrderRow>("SELECT note, total_amount, 7 AS extra, status FROM " + table +
                                          " ORDER BY total_amount");
  ASSERT_EQ(orders.size(), 5u);
  EXPECT_FALSE(orders[0].note.has_value());
  EXPECT_EQ(orders[1].note, "gift");
  EXPECT_EQ(orders[3].status, "paid");
  EXPECT_DOUBLE_EQ(orders[4].total_amount, 50.0);
  EXPECT_EQ(orders[4].user_id, 0);
  // The column-to-member mapping is remembered per statement: another column
  // order maps afresh, and going back to the first statement maps it again.
  const std::string by_amount = "SELECT total_amount, status FROM " + table + " ORDER BY total_amount";
  const std::string by_status = "SELECT status, user_id, total_amount FROM " + table + " ORDER BY total_amount";
  for (int round = 0; round < 2; ++round) {
    auto a = conn->select_as<OrderRow>(by_amount);
    auto b = conn->select_as<OrderRow>(by_status);
    ASSERT_EQ(a.size(), 5u);
    ASSERT_EQ(b.size(), 5u);
    EXPECT_EQ(a[3].status, "paid");
    EXPECT_DOUBLE_EQ(a[4].total_amount, 50.0);
    EXPECT_EQ(a[4].user_id, 0);  // not selected by the first statement
    EXPECT_EQ(b[3].status, "paid");
    EXPECT_DOUBLE_EQ(b[4].total_amount, 50.0);
    EXPECT_EQ(b[4].user_id, 3);
  }

  // A type with from_row.
  auto amounts = conn->select_as<Amount>("SELECT total_amount FROM " + table + " WHERE user_id = ? ORDER BY total_amount", {3});
  ASSERT_EQ(amounts.size(), 2u);
  EXPECT_DOUBLE_EQ(amounts[1].value, 50.0);

  // select_each hands over every row once, and counts them.
  double total = 0;
  std::uint64_t n = conn->select_each("SELECT total_amount FROM " + table, {}, [&](Row r) { total += r[0].as<double>(); });
  EXPECT_EQ(n, 5u);
  EXPECT_DOUBLE_EQ(total, 150.0);
  // Text longer than a driver's first column buffer arrives whole, and the
  // reused row buffer then holds a short value again.
  const std::string long_text(1000, 'y');
  auto echoed = conn->select_as<std::tuple<std::string>>("SELECT ? AS t", {long_text});
  ASSERT_EQ(echoed.size(), 1u);
  EXPECT_EQ(std::get<0>(echoed[0]), long_text);
  auto short_again = conn->select_as<std::tuple<std::string>>("SELECT ? AS t", {"z"});
  EXPECT_EQ(std::get<0>(short_again.at(0)), "z");
  // A visitor that throws stops the read; the session stays usable.
  int seen = 0;
  EXPECT_THROW(conn->select_each("SELECT total_amount FROM " + table, {},
                                 [&](Row) {
                                   if (++seen == 2) throw std::runtime_error("stop");
                                 }),
               std::runtime_error);
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(conn->select_as<std::tuple<std::int64_t>>("SELECT COUNT(*) FROM " + table).at(0), std::make_tuple(std::int64_t{5}));
  // A visitor that returns false stops after that row; the rest are not
  // handed over, and the session is at once free for reads and writes.
  std::vector<double> taken;
  n = conn->select_each("SELECT total_amount FROM " + table + " ORDER BY total_amount", {}, [&](Row r) {
    taken.push_back(r[0].as<double>());
    return taken.size() < 2;
  });
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_DOUBLE_EQ(taken[0], 10.0);
  EXPECT_DOUBLE_EQ(taken[1], 20.0);
  {
    auto tx = conn->begin();  // no half-read statement holds the session or a lock
    tx.execute("UPDATE " + table + " SET total_amount = total_amount WHERE user_id = ?", {3});
    tx.commit();
  }
  EXPECT_EQ(conn->select_each("SELECT total_amount FROM " + table, {}, [](Row) { return true; }), 5u);

  // The builder, typed.
  auto statuses = conn->table(table).select({"status"}).where("user_id", 3).order_by("status").get_as<std::tuple<std::string>>();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(std::get<0>(statuses[1]), "void");

  // Prepared: compiled once, run with new values.
  auto by_user = conn->table(table).select({"status", "total_amount"}).where("user_id", 0).order_by("total_amount").prepare();
  EXPECT_EQ(by_user.parameters(), 1u);
  EXPECT_EQ(by_user.get({1}).size(), 2u);
  EXPECT_EQ(by_user.get({2}).size(), 1u);
  EXPECT_TRUE(by_user.get().empty());  // the values it was built with: user 0
  auto first = by_user.first({3});
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->get<std::string>("status"), "paid");
  EXPECT_FALSE(by_user.first({99}).has_value());
  // Typed first rows: the read stops after the first row.
  auto top = by_user.first_as<std::tuple<std::string, double>>({1});
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(*top, std::make_tuple(std::string("paid"), 10.0));
  using StatusAmount = std::tuple<std::string, double>;
  EXPECT_FALSE(by_user.first_as<StatusAmount>({99}).has_value());
  auto biggest = conn->table(table).select({"status", "total_amount"}).where("user_id", 1).order_by_desc("total_amount")
                     .first_as<std::tuple<std::string, double>>();
  ASSERT_TRUE(biggest.has_value());
  EXPECT_EQ(*biggest, std::make_tuple(std::string("open"), 20.0));
  EXPECT_FALSE(conn->table(table).where("user_id", 99).first_as<std::tuple<std::int64_t>>().has_value());
  auto one = conn->select_one_as<std::tuple<double>>("SELECT total_amount FROM " + table + " WHERE user_id = ? ORDER BY total_amount DESC", {3});
  ASSERT_TRUE(one.has_value());
  EXPECT_DOUBLE_EQ(std::get<0>(*one), 50.0);
  auto typed = by_user.get_as<std::tuple<std::string, double>>({1});
  ASSERT_EQ(typed.size(), 2u);
  EXPECT_DOUBLE_EQ(std::get<1>(typed[1]), 20.0);
  try {
    (void)by_user.get({1, 2});
    FAIL() << "a wrong number of values must be refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("binds 1 value(s) but 2 were given"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)QueryBuilder(table).prepare(), UsageError);  // unbound: nowhere to run

  // A typed read is one query event, with its row count.
  std::vector<std::uint64_t> rows_seen;
  conn->on_after_query([&](const QueryEvent& e) { rows_seen.push_back(e.rows); });
  (void)conn->select_as<std::tuple<std::int64_t>>("SELECT id FROM " + table);
  ASSERT_EQ(rows_seen.size(), 1u);
  EXPECT_EQ(rows_seen[0], 5u);

  // Conversion errors name the column and the model.
  try {
    (void)conn->select_as<OrderRow>("SELECT status AS total_amount FROM " + table);
    FAIL() << "text into a double must fail";
  } catch (const ConversionError& e) {
    EXPECT_NE(std::string(e.what()).find("total_amount"), std::string::npos) << e.what();
  }

  // Inside a transaction the typed read sees the transaction's own writes.
  conn->transaction([&](Transaction& tx) {
    tx.table(table).insert({{"user_id", 9}, {"status", "new"}, {"total_amount", 1.0}});
    EXPECT_EQ(tx.select_as<OrderRow>("SELECT * FROM " + table + " WHERE user_id = ?", {9}).size(), 1u);
    EXPECT_EQ(tx.table(table).where("user_id", 9).prepare().get_as<OrderRow>().at(0).status, "new");
  });
}

// A builder read compiles its statement into storage its thread reuses; a read
// started while that statement is still in use (from a hook, or from the
// visitor of a streaming read) must compile into its own, leaving the outer
// statement and its bound values as they were.
TEST_P(Conformance, BuilderReadsStartedInsideAnotherReadKeepBothStatements) {
  create_orders(*conn, table, ctx);
  conn->table(table).insert_many(sample_orders());

  std::vector<std::string> nested_notes;
  conn->on_before_query([&, inside = false](const QueryEvent& e) mutable {
    if (inside || e.sql.find("user_id") == std::string_view::npos) return;
    inside = true;
    auto note = conn->table(table).select({"note"}).where("status", "open").first();
    nested_notes.push_back(note ? note->get<std::string>("note") : "none");
    inside = false;
  });
  auto paid = conn->table(table).where("user_id", 3).where("status", "paid").first();
  ASSERT_TRUE(paid.has_value());
  EXPECT_DOUBLE_EQ(paid->get<double>("total_amount"), 40.0);
  EXPECT_EQ(nested_notes, std::vector<std::string>{"gift"});

  // Reads inside a streaming read's visitor.
  std::vector<std::string> pairs;
  auto outer = conn->table(table).select({"user_id", "status"}).where("total_amount", ">", 15).order_by("total_amount");
  const std::uint64_t n = outer.each([&](Row r) {
    const auto uid = r["user_id"].as<std::int64_t>();
    auto count = conn->table(table).where("user_id", uid).count();
    pairs.push_back(std::to_string(uid) + ":" + r["status"].as<std::string>() + ":" + std::to_string(count));
    return true;
  });
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(pairs, (std::vector<std::string>{"1:open:2", "2:paid:1", "3:paid:2", "3:void:2"}));
}

namespace {

/// One generated read: its shape comes from `shape_seed` alone, its values
/// from `values`, so the same shape can be built again with other values.
/// A builder records the calls it can and builds its parts only when asked
/// to; `structured` builds them from the start (to_sql() before any call), so
/// it is the oracle the recorded builder is compared with.
QueryBuilder generated_read(Connection& c, const std::string& table, unsigned shape_seed, std::mt19937& values,
                            bool structured) {
  std::mt19937 shape(shape_seed);
  auto pick = [&](int n) { return static_cast<int>(shape() % static_cast<unsigned>(n)); };
  auto number = [&] { return static_cast<std::int64_t>(values() % 60) - 5; };
  auto text = [&] {
    static const char* const words[] = {"paid", "open", "void", "gift", "rush", "p%", "%i%", ""};
    return std::string(words[values() % 8]);
  };
  QueryBuilder b = c.table(table);
  if (structured) (void)b.to_sql();
  static const char* const names[] = {"id", "user_id", "status", "total_amount", "note"};
  static const FixedColumns fixed({"id", "status", "note"});
  switch (pick(5)) {
    case 0:
    case 1: {
      std::vector<Expr> cols;
      for (int i = 0; i < 5; ++i)
        if (pick(2)) cols.emplace_back(pick(4) ? std::string(names[i]) : table + "." + names[i]);
      if (!cols.empty()) b.select(cols);
      if (pick(4) == 0) b.add_select(names[pick(5)]);
      break;
    }
    case 2:
      if (pick(2)) b.select({"user_id", "total_amount"});
      else b.select({"status"});
      break;
    case 3:
      b.select(fixed);
      if (pick(3) == 0) b.add_select("user_id");
      break;
    default:
      break;
  }
  const bool distinct = pick(4) == 0;
  const int conditions = pick(5);
  for (int i = 0; i < conditions; ++i) {
    const bool use_or = i > 0 && pick(3) == 0;
    const bool numeric = pick(2) == 0;
    const std::string col = numeric ? (pick(2) ? "user_id" : "total_amount") : (pick(2) ? "status" : "note");
    auto value = [&]() -> Value { return numeric ? Value(number()) : Value(text()); };
    switch (pick(7)) {
      case 0:
      case 1: {
        static const char* const ops[] = {"=", "<>", "!=", "<", "<=", ">", ">=", "like", "ILike"};
        const char* op = ops[pick(numeric ? 7 : 9)];
        if (use_or) b.or_where(col, op, value());
        else b.where(col, op, value());
        break;
      }
      case 2:
        if (use_or) b.or_where(col, pick(2) ? Value() : value());  // a null value compiles to IS NULL
        else b.where(col, pick(2) ? Value() : value());
        break;
      case 3:
        if (use_or) b.or_where_null(col);
        else if (pick(2)) b.where_null(col);
        else b.where_not_null(col);
        break;
      case 4:
      case 5: {
        std::vector<Value> list;
        for (int k = pick(4); k > 0; --k) list.push_back(value());
        if (use_or) b.or_where_in(col, list);
        else if (pick(2)) b.where_in(col, list);
        else b.where_not_in(col, list);
        break;
      }
      case 6:
        if (pick(2)) b.where_between(col, value(), value());
        else b.where_not_between(col, value(), value());
        break;
    }
  }
  if (distinct) {
    if (pick(3) == 0) b.distinct(false);
    b.distinct();  // without ORDER BY: PostgreSQL orders a DISTINCT only by selected columns
  } else if (pick(2)) {
    if (pick(4) == 0) b.order_by("note").limit(2).reorder();  // undone: only what follows counts
    for (int k = pick(3); k > 0; --k) b.order_by(names[pick(5)], pick(2) ? "asc" : "DESC");
    b.order_by("id");  // a total order, so a page is the same rows on every run
    if (pick(2)) b.limit(static_cast<std::uint64_t>(pick(4)));
    if (pick(3) == 0) b.offset(static_cast<std::uint64_t>(pick(3)));
  }
  return b;
}

std::string text_of(Row row) {
  std::string line;
  for (std::size_t i = 0; i < row.size(); ++i) line += row[i].to_string() + "|";
  return line;
}
std::vector<std::string> texts(const Result& r) {
  std::vector<std::string> out;
  for (Row row : r) out.push_back(text_of(row));
  return out;
}

}  // namespace

// Builders run on every request compile once per shape and then take their
// SQL from a cache: whatever the shape and the values, what reaches the
// database is what the builder compiles to (to_sql, never cached), with the
// values in their places, and it returns the same rows.
TEST_P(Conformance, GeneratedBuildersRunTheStatementTheyCompileTo) {
  create_orders(*conn, table, ctx);
  conn->table(table).insert_many(sample_orders());
  std::string sent;
  std::vector<Value> bound;
  conn->on_before_query([&](const QueryEvent& e) {
    sent = std::string(e.sql);
    bound.assign(e.bindings.begin(), e.bindings.end());
  });
  std::mt19937 values(20261201);
  for (unsigned shape_seed = 1; shape_seed <= 160; ++shape_seed) {
    for (int round = 0; round < 3; ++round) {  // the same shape with new values: found in the cache
      std::mt19937 same_values = values;
      QueryBuilder oracle = generated_read(*conn, table, shape_seed, same_values, true);
      QueryBuilder b = generated_read(*conn, table, shape_seed, values, false);
      const bool first = round == 2;
      Query expected = first ? QueryBuilder(oracle).limit(1).to_sql() : oracle.to_sql();
      SCOPED_TRACE("shape " + std::to_string(shape_seed) + " round " + std::to_string(round) + ": " + expected.sql);
      // What the recorded builder compiles to when asked (on a copy: b stays recorded).
      const Query replayed = first ? QueryBuilder(b).limit(1).to_sql() : QueryBuilder(b).to_sql();
      ASSERT_EQ(replayed.sql, expected.sql);
      EXPECT_EQ(replayed.bindings, expected.bindings);
      const Result want = conn->select(expected.sql, expected.bindings);
      sent.clear();
      if (first) {
        auto got = b.first();
        ASSERT_EQ(sent, expected.sql);
        EXPECT_EQ(bound, expected.bindings);
        ASSERT_EQ(got.has_value(), !want.empty());
        if (got) {
          EXPECT_EQ(text_of(got->row()), text_of(want[0]));
        }
      } else {
        const Result got = b.get();
        ASSERT_EQ(sent, expected.sql);
        EXPECT_EQ(bound, expected.bindings);
        EXPECT_EQ(texts(got), texts(want));
      }
    }
  }
}

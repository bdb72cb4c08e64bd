// The seed's controller queries with the query builder, on the connection
// that owns each table: db.table("table", "connection").
#include <filesystem>
#include <iostream>
#include <tuple>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "var/query_builder";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("analytics", sqlite((dir / "analytics.sqlite").string()));
  config.add("orders_db", sqlite((dir / "orders.sqlite").string()));
  Database db(config);

  db.connection("analytics").execute(
      "CREATE TABLE user_metrics (user_id INTEGER, total_purchases INTEGER, avg_purchase_amount REAL)");
  db.connection("orders_db").execute(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total_amount REAL, created_at TEXT)");

  db.table("user_metrics", "analytics").insert_many({{{"user_id", 1}, {"total_purchases", 3}, {"avg_purchase_amount", 20.5}},
                                                     {{"user_id", 2}, {"total_purchases", 0}, {"avg_purchase_amount", 0.0}}});
  auto orders = db.connection("orders_db").table("orders");
  for (double amount : {19.99, 5.01, 75.0})
    orders.insert({{"user_id", 1}, {"total_amount", amount}, {"created_at", "2024-05-01"}});

  // getUserMetrics
  auto metrics = db.table("user_metrics", "analytics")
                     .select({"user_id", "total_purchases", "avg_purchase_amount"})
                     .where("total_purchases", ">", 0)
                     .order_by("total_purchases", "DESC")
                     .limit(100)
                     .get();
  std::cout << metrics.size() << " user(s) with purchases\n";

  // getUserWithOrderStats: raw aggregate expressions, values bound.
  auto stats = db.table("orders", "orders_db")
                   .select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent"),
                            raw("MAX(created_at) AS last_order_date")})
                   .where("user_id", "=", 1)
                   .first();
  std::cout << stats->get<int>("total_orders") << " orders, " << stats->get<double>("total_spent") << " spent\n";

  // globalSearch: a raw condition with a bound pattern.
  auto found = db.table("orders", "orders_db")
                   .select({"id", "user_id", "total_amount"})
                   .where(raw("CAST(id AS TEXT) || '-' || CAST(user_id AS TEXT) LIKE ?", {"%-1%"}))
                   .limit(10)
                   .get();
  std::cout << found.size() << " order(s) matched\n";

  // Typed rows, and a query prepared once and run with new values.
  auto amounts = db.connection("orders_db")
                     .select_as<std::tuple<std::int64_t, double>>("SELECT id, total_amount FROM orders WHERE user_id = ?", {1});
  auto by_user = db.table("orders", "orders_db").select({"id", "total_amount"}).where("user_id", 0).prepare();
  for (std::int64_t user : {1, 2})
    std::cout << "user " << user << ": " << by_user.get({user}).size() << " order(s)\n";
  if (amounts.size() != 3) return 1;
  // The first row straight into a type (the read stops there): the point-select form.
  auto first_order = by_user.first_as<std::tuple<std::int64_t, double>>({1});
  if (!first_order) return 1;
  std::cout << "user 1's first order: #" << std::get<0>(*first_order) << "\n";

  // Upsert into a snapshot table, paginate, and see the SQL for another dialect.
  db.connection("analytics").execute("CREATE TABLE user_snapshot (user_id INTEGER PRIMARY KEY, name TEXT)");
  auto snap = db.table("user_snapshot", "analytics");
  snap.upsert({{{"user_id", 1}, {"name", "John"}}}, {"user_id"}, {"name"});
  snap.upsert({{{"user_id", 1}, {"name", "Johnny"}}}, {"user_id"}, {"name"});
  std::cout << "snapshot: " << snap.where("user_id", 1).value("name").as<std::string>() << "\n";
  auto page = db.table("orders", "orders_db").order_by("id").paginate(1, 2);
  std::cout << "page 1 of " << page.last_page << ", " << page.total << " orders\n";
  std::cout << db.table("orders", "orders_db").where("user_id", 1).to_sql("postgres").sql << "\n";
  return metrics.size() == 1 && stats->get<int>("total_orders") == 3 ? 0 : 1;
}

// The seed guide's multi-database controller, in C++ on three SQLite files:
// a users database, an analytics database and an orders database. Every query
// is logged with the database it went to; slow ones are flagged.
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "var/example";
  std::filesystem::remove_all(dir);

  // src/config/database.ts, as C++.
  DatabaseConfig config;
  config.add("users_db", sqlite((dir / "users.sqlite").string()));
  config.add("analytics", sqlite((dir / "analytics.sqlite").string()));
  config.add("orders_db", sqlite((dir / "orders.sqlite").string()));
  config.default_connection = "users_db";
  Database db(config);

  // Logging and debugging: every query with the database that served it.
  db.on_after_query([](const QueryEvent& e) {
    std::cout << "  [" << e.connection << " " << e.role << "] " << e.sql << " ("
              << std::chrono::duration<double, std::micro>(e.duration).count() << " us)\n";
  });
  db.connection("analytics").on_slow_query(std::chrono::milliseconds(5), [](const QueryEvent& e) {
    std::cout << "  slow analytics query: " << e.sql << "\n";
  });

  auto& users = db.connection("users_db");
  auto& analytics = db.connection("analytics");
  auto& orders = db.connection("orders_db");
  users.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE NOT NULL)");
  analytics.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, event_type TEXT, user_id INTEGER, data TEXT)");
  orders.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total_amount REAL)");

  // createUserWithAnalytics: the user in users_db, the event in analytics.
  std::cout << "create a user and log the event:\n";
  auto user_id = users.execute("INSERT INTO users (name, email) VALUES (?, ?)", {"John", "john@example.com"})
                     .last_insert_id()
                     .value();
  analytics.execute("INSERT INTO events (event_type, user_id, data) VALUES (?, ?, ?)",
                    {"user_created", user_id, R"({"name":"John"})"});

  // Orders in their own database, in one transaction per database.
  std::cout << "orders in a transaction on orders_db:\n";
  orders.transaction([&](Transaction& tx) {
    for (double amount : {19.99, 5.01, 75.00})
      tx.execute("INSERT INTO orders (user_id, total_amount) VALUES (?, ?)", {user_id, amount});
  });

  // getUserWithOrderStats: two databases, one answer.
  std::cout << "user with order stats:\n";
  auto user = users.select("SELECT id, name, email FROM users WHERE id = ?", {user_id});
  auto stats = orders.select(
      "SELECT COUNT(*) AS total_orders, SUM(total_amount) AS total_spent FROM orders WHERE user_id = ?", {user_id});
  std::cout << user[0]["name"].as<std::string>() << " <" << user[0]["email"].as<std::string>() << ">: "
            << stats[0]["total_orders"].as<int>() << " orders, " << stats[0]["total_spent"].as<double>() << " spent\n";

  // Many lookups at once: one Result per key, in order (pipelined on PostgreSQL).
  auto amounts = orders.select_batch("SELECT total_amount FROM orders WHERE id = ?", {{1}, {3}, {99}});
  std::cout << "batch: order 1 = " << amounts[0][0][0].as<double>() << ", order 3 = " << amounts[1][0][0].as<double>()
            << ", order 99 " << (amounts[2].empty() ? "not found" : "found") << "\n";

  // Raw SQL with an explicit read intent (the seed's isRead = true).
  auto events = analytics.query("SELECT event_type, COUNT(*) AS n FROM events GROUP BY event_type", {}, Intent::read);
  std::cout << events.size() << " event type(s) in analytics\n";

  // Handle failures by kind, not by message text.
  try {
    users.execute("INSERT INTO users (name, email) VALUES (?, ?)", {"Jane", "john@example.com"});
  } catch (const Error& e) {
    if (e.is_constraint_violation()) std::cout << "duplicate email refused on " << e.connection() << "\n";
  }

  // Monitor: the seed's health controller.
  int healthy = 0;
  for (const auto& h : db.health()) healthy += h.healthy ? 1 : 0;
  std::cout << "all " << healthy << " connections healthy\n";
  return healthy == 3 ? 0 : 1;
}

// The seed's three helpers that span databases, done atomically:
//   createUserWithOrders: a user in users_db (PostgreSQL) and the user's
//     orders in orders_db (MariaDB), committed together or not at all;
//   transferUserData: one user's row copied to another database;
//   syncUserDataToAnalytics: a snapshot upserted into the analytics database
//     (SQLite).
// Usage:
//   transactions [USERS_URL ORDERS_URL [ANALYTICS_FILE]]
// (defaults: $PLEXUS_TEST_PG_URL and $PLEXUS_TEST_MYSQL_URL from scripts/servers)
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <plexus/plexus.hpp>

using namespace plexus;

struct OrderLine {
  std::int64_t product_id;
  std::int64_t quantity;
};

// Both inserts, or neither: two-phase commit over PREPARE TRANSACTION and XA.
std::int64_t create_user_with_orders(Database& db, const std::string& name, const std::string& email,
                                     const std::vector<OrderLine>& orders) {
  return db.transaction({"users_db", "orders_db"}, [&](GlobalTransaction& g) {
    const auto id = g["users_db"].table("users").insert_get_id({{"name", name}, {"email", email}});
    for (const auto& o : orders)
      g["orders_db"].table("orders").insert(
          {{"user_id", id}, {"product_id", o.product_id}, {"quantity", o.quantity}});
    return id;
  });
}

// The user's row, copied to another connection; a key already there is an
// error (the seed's "User already exists in destination database").
void transfer_user_data(Database& db, std::int64_t user_id, const std::string& from, const std::string& to) {
  auto s = copy_rows(db, {.from = from,
                          .query = "SELECT id, name, email FROM users WHERE id = ?",
                          .params = {user_id},
                          .to = to,
                          .into = "users"});
  if (s.rows_read == 0) throw UsageError("user " + std::to_string(user_id) + " not found in " + from);
}

// The user's snapshot in analytics, inserted or updated (an upsert on the key).
void sync_user_data_to_analytics(Database& db, std::int64_t user_id) {
  (void)copy_rows(db, {.from = "users_db",
                       .query = "SELECT id AS user_id, name, email, CURRENT_TIMESTAMP AS synced_at "
                                "FROM users WHERE id = ?",
                       .params = {user_id},
                       .to = "analytics",
                       .into = "user_snapshot",
                       .key = {"user_id"},
                       .on_conflict = OnConflict::update});
}

int main(int argc, char** argv) {
  const char* users = argc > 2 ? argv[1] : std::getenv("PLEXUS_TEST_PG_URL");
  const char* orders = argc > 2 ? argv[2] : std::getenv("PLEXUS_TEST_MYSQL_URL");
  const std::string analytics = argc > 3 ? argv[3] : "analytics.sqlite";
  if (!users || !orders) {
    std::cerr << "give USERS_URL (PostgreSQL) ORDERS_URL (MariaDB), or run `scripts/servers start` and source "
                 "/tmp/plx/env\n";
    return 77;  // skipped
  }

  DatabaseConfig config;
  config.add("users_db", users);
  config.add("orders_db", orders);
  config.add("analytics", sqlite(analytics));
  config.add("archive", sqlite(":memory:"));
  // Commit decisions go to a table on users_db, so any instance can recover.
  config.transactions.log_connection = "users_db";
  config.transactions.coordinator = "example";
  Database db(config);

  auto& u = db.connection("users_db");
  u.execute("DROP TABLE IF EXISTS users");
  u.execute("CREATE TABLE users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE)");
  auto& o = db.connection("orders_db");
  o.execute("DROP TABLE IF EXISTS orders");
  o.execute("CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id BIGINT NOT NULL, "
            "product_id BIGINT NOT NULL, quantity INT NOT NULL CHECK (quantity > 0))");
  db.connection("analytics").execute("DROP TABLE IF EXISTS user_snapshot");
  db.connection("analytics").execute(
      "CREATE TABLE user_snapshot (user_id INTEGER PRIMARY KEY, name TEXT, email TEXT, synced_at TEXT)");
  db.connection("archive").execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)");

  // Every statement of a global transaction carries its id (shown for the first one).
  // Participants commit in parallel, so the hook may run on several threads at once.
  std::atomic<bool> show = true;
  std::mutex out;
  db.on_after_query([&](const QueryEvent& e) {
    if (!show || e.global_id.empty()) return;
    std::lock_guard lock(out);
    std::cout << "  [" << e.connection << " " << e.global_id << "] " << e.sql << "\n";
  });

  std::cout << "createUserWithOrders (Ada, 2 orders):\n";
  const auto ada = create_user_with_orders(db, "Ada", "ada@example.com", {{1, 2}, {7, 1}});
  std::cout << "user " << ada << " in users_db, "
            << o.scalar("SELECT count(*) FROM orders WHERE user_id = ?", {ada}).as<std::int64_t>()
            << " orders in orders_db\n";
  show = false;

  std::cout << "createUserWithOrders (Bob, an order with quantity 0):\n";
  try {
    (void)create_user_with_orders(db, "Bob", "bob@example.com", {{1, 1}, {2, 0}});
  } catch (const Error& e) {
    std::cout << "refused by " << e.connection() << "; ";
  }
  std::cout << "Bob in users_db: "
            << u.on_primary().scalar("SELECT count(*) FROM users WHERE name = 'Bob'").as<std::int64_t>()
            << ", orders without a user: "
            << o.scalar("SELECT count(*) FROM orders WHERE user_id <> ?", {ada}).as<std::int64_t>() << "\n";

  std::cout << "transferUserData (Ada to archive), twice:\n";
  transfer_user_data(db, ada, "users_db", "archive");
  try {
    transfer_user_data(db, ada, "users_db", "archive");
  } catch (const Error& e) {
    std::cout << "the second time: " << to_string(e.kind()) << " on " << e.connection() << "\n";
  }

  std::cout << "syncUserDataToAnalytics (Ada), twice:\n";
  sync_user_data_to_analytics(db, ada);
  u.execute("UPDATE users SET name = 'Ada Lovelace' WHERE id = ?", {ada});
  sync_user_data_to_analytics(db, ada);
  auto snap = db.connection("analytics").table("user_snapshot").where("user_id", ada).first();
  std::cout << "analytics holds " << db.connection("analytics").scalar("SELECT count(*) FROM user_snapshot").as<int>()
            << " snapshot: " << (*snap)["name"].as<std::string>() << "\n";

  const auto report = db.recover();
  std::cout << "recovery: " << report.actions.size() << " branch(es) in doubt\n";
  u.execute("DROP TABLE users");
  o.execute("DROP TABLE orders");
  return 0;
}

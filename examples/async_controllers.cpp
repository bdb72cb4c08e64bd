// The seed's MultiDbController with co_await: createUserWithAnalytics (one
// transaction on users_db, then the analytics event), getUserWithOrderStats
// (two databases, one after the other, as the seed awaits them) and
// getDashboard (the seed's Promise.all: three queries at once). The
// coroutines run on one thread and wait on the databases, not on threads
// (these are SQLite files, so their statements run on Plexus's small worker
// pool; on PostgreSQL or MariaDB the loop waits on the sockets itself). Uses
// the shop service's migrations.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <iostream>
#include <plexus/async.hpp>
#include <plexus/plexus.hpp>

using boost::asio::awaitable;
using boost::asio::use_awaitable;
using plexus::raw;

namespace {

std::string now() { return "2026-12-07 12:00:00"; }

/// createUserWithAnalytics: the user in users_db, then the event in analytics.
awaitable<std::int64_t> create_user_with_analytics(plexus::Database& db, std::string name, std::string email) {
  auto& users = db.connection("users_db");
  const std::int64_t id = co_await plexus::async_transaction(users, [&](plexus::AsyncTransaction& tx) -> awaitable<std::int64_t> {
    co_await tx.execute("INSERT INTO users (name, email) VALUES (?, ?)", plexus::values(name, email));
    plexus::Result r = co_await tx.select("SELECT id FROM users WHERE email = ?", plexus::values(email));
    co_return r[0][0].as<std::int64_t>();
  });
  co_await plexus::async_execute(db.connection("analytics"),
                                 "INSERT INTO events (event_type, user_id, data, created_at) VALUES (?, ?, ?, ?)",
                                 plexus::values("user_created", id, name, now()), use_awaitable);
  co_return id;
}

/// getUserWithOrderStats: the user from users_db, the stats from orders_db.
/// (Builders are made before the co_await: g++ 12 cannot compile a braced
/// list such as select({"name", "email"}) inside a co_await expression.)
awaitable<void> user_with_order_stats(plexus::Database& db, std::int64_t id) {
  auto& users = db.connection("users_db");
  auto& orders = db.connection("orders_db");
  const auto user_q = users.table("users").select({"name", "email"}).where("id", id);
  const auto stats_q = orders.table("orders")
                           .select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent")})
                           .where("user_id", id);
  plexus::Result user = co_await plexus::async_get(users, user_q, use_awaitable);
  plexus::Result stats = co_await plexus::async_get(orders, stats_q, use_awaitable);
  std::cout << "getUserWithOrderStats: " << user[0][0].as<std::string>() << ", " << stats[0][0].as<int>()
            << " order(s), spent " << stats[0][1].as<double>() << "\n";
}

/// getDashboard: the seed's Promise.all over the analytics database.
awaitable<void> dashboard(plexus::Database& db) {
  auto& analytics = db.connection("analytics");
  const auto growth_q = analytics.table("user_growth").select({"date", "new_users"});
  const auto purchases_q = analytics.table("purchase_metrics").select({raw("COUNT(*) AS n")});
  const auto events_q = analytics.table("events").select({"event_type", raw("COUNT(*) AS count")}).group_by({"event_type"});
  auto [growth, purchases, events] = co_await plexus::all(plexus::async_get(analytics, growth_q, use_awaitable),
                                                          plexus::async_get(analytics, purchases_q, use_awaitable),
                                                          plexus::async_get(analytics, events_q, use_awaitable));
  std::cout << "getDashboard: " << growth.size() << " growth day(s), " << purchases[0][0].as<int>() << " purchase(s), "
            << events.size() << " event type(s): " << events[0][0].as<std::string>() << " x" << events[0][1].as<int>()
            << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/async_controllers";
  const std::filesystem::path migrations = argc > 2 ? argv[2] : "examples/shop-service/migrations";
  std::filesystem::remove_all(dir);
  plexus::DatabaseConfig config;
  for (const char* name : {"users_db", "orders_db", "analytics"}) {
    auto c = plexus::sqlite((dir / (std::string(name) + ".sqlite")).string());
    c.migrations = (migrations / name).string();
    config.add(name, c);
  }
  plexus::Database db(config);
  plexus::Migrator migrator(db);
  const auto folders = migrator.configured();
  (void)migrator.migrate_all(folders);

  boost::asio::io_context io;  // one thread serves every request below
  boost::asio::co_spawn(io, [&]() -> awaitable<void> {
    const std::int64_t id = co_await create_user_with_analytics(db, "Ada Lovelace", "ada@example.com");
    std::cout << "createUserWithAnalytics: user " << id << "\n";
    co_await plexus::async_execute(db.connection("orders_db"),
                                   "INSERT INTO orders (user_id, total_amount, created_at) VALUES (?, ?, ?)",
                                   plexus::values(id, 42.5, now()), use_awaitable);
    co_await user_with_order_stats(db, id);
    co_await dashboard(db);
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  return 0;
}

#include "async_shop.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace shop {

using boost::asio::awaitable;
using boost::asio::use_awaitable;
using namespace std::chrono;
using plexus::raw;

// Builders and Fields are made before each co_await: g++ 12 cannot compile a
// braced list inside a co_await expression (docs/async.md).

awaitable<Reply> AsyncShop::create_user(nlohmann::json body) {
  const std::string name = need_text(body, "name"), email = need_text(body, "email");
  auto& analytics = m_db.connection("analytics");
  // The user in users_db (the model's connection)...
  const plexus::Fields attributes{{"name", name}, {"email", email}};
  const auto user = co_await plexus::async_create(m_db.model<User>(), attributes, use_awaitable);
  // ...and the event in analytics.
  const plexus::Fields event{{"event_type", "user_created"},
                             {"user_id", user.id},
                             {"data", nlohmann::json{{"name", name}, {"email", email}}.dump()},
                             {"created_at", now()}};
  co_await plexus::async_insert(analytics, analytics.table("events"), event, use_awaitable);
  // Today's growth: one more new user (the row is made by the first user of the day).
  const plexus::Date today{floor<days>(system_clock::now())};
  const std::string bump = "UPDATE user_growth SET new_users = new_users + 1, active_users = active_users + 1 WHERE date = ?";
  const plexus::Result bumped = co_await plexus::async_execute(analytics, bump, plexus::values(today), use_awaitable);
  if (bumped.affected_rows() == 0) {
    bool made_meanwhile = false;
    const plexus::Fields first{{"date", today}, {"new_users", 1}, {"active_users", 1}};
    try {
      co_await plexus::async_insert(analytics, analytics.table("user_growth"), first, use_awaitable);
    } catch (const plexus::Error& e) {
      if (!e.is_constraint_violation()) throw;
      made_meanwhile = true;  // another request made today's row first
    }
    if (made_meanwhile) co_await plexus::async_execute(analytics, bump, plexus::values(today), use_awaitable);
  }
  co_return Reply{201, {{"message", "User created"}, {"data", user_json(user)}}};
}

awaitable<Reply> AsyncShop::user_with_order_stats(std::int64_t id) {
  auto& users = m_db.connection("users_db");
  auto& orders = m_db.connection("orders_db");
  nlohmann::json user;
  if (const auto u = co_await plexus::async_find(m_db.model<User>(), id, use_awaitable)) {  // a replica answers
    user = user_json(*u);
  } else {
    // A miss on a replica may be a user created a moment ago that it has not
    // replayed yet: the primary confirms before the answer is 404.
    const plexus::Result r = co_await plexus::async_query(users.on_primary(), "SELECT id, name, email FROM users WHERE id = ?",
                                                          plexus::values(id), plexus::Intent::read, use_awaitable);
    if (r.empty()) co_return Reply{404, {{"error", "User not found"}}};
    user = to_json(r[0]);
  }
  const auto stats_q = orders.table("orders")
                           .select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent"),
                                    raw("AVG(total_amount) AS avg_order_value"), raw("MAX(created_at) AS last_order_date")})
                           .where("user_id", id);
  const auto stats = co_await plexus::async_first(orders, stats_q, use_awaitable);
  co_return Reply{200, {{"data", {{"user", user}, {"order_stats", to_json(stats->row())}}}}};
}

awaitable<Reply> AsyncShop::create_order(nlohmann::json body) {
  const auto user_id = need_int(body, "user_id");
  const double total = need_number(body, "total_amount");
  auto& orders = m_db.connection("orders_db");
  auto& analytics = m_db.connection("analytics");
  const plexus::Fields order{{"user_id", user_id}, {"total_amount", total}, {"created_at", now()}};
  const auto id = co_await plexus::async_insert_get_id(orders, orders.table("orders"), order, "id", use_awaitable);
  // The purchase as analytics sees it (a separate write: analytics may lag the order, never lead it).
  const plexus::Fields purchase{{"user_id", user_id}, {"amount", total}, {"date", now()}};
  co_await plexus::async_insert(analytics, analytics.table("purchase_metrics"), purchase, use_awaitable);
  const plexus::Fields event{{"event_type", "purchase"},
                             {"user_id", user_id},
                             {"data", nlohmann::json{{"order_id", id}}.dump()},
                             {"created_at", now()}};
  co_await plexus::async_insert(analytics, analytics.table("events"), event, use_awaitable);
  co_return Reply{201, {{"message", "Order created"}, {"data", {{"id", id}, {"user_id", user_id}, {"total_amount", total}}}}};
}

awaitable<Reply> AsyncShop::dashboard() {
  const auto month_ago = now() - hours(24 * 30), day_ago = now() - hours(24);
  auto& analytics = m_db.connection("analytics");
  const auto growth_q = analytics.table("user_growth")
                            .select({"date", "new_users", "active_users"})
                            .where("date", ">=", month_ago)
                            .order_by("date", "DESC");
  const auto purchases_q = analytics.table("purchase_metrics")
                               .select({raw("SUM(amount) AS total_revenue"), raw("COUNT(DISTINCT user_id) AS unique_buyers"),
                                        raw("AVG(amount) AS avg_purchase")})
                               .where("date", ">=", day_ago);
  const auto top_q = analytics.table("events")
                         .select({"event_type", raw("COUNT(*) AS count")})
                         .where("created_at", ">=", day_ago)
                         .group_by({"event_type"})
                         .order_by("count", "DESC")
                         .limit(10);
  // The seed's Promise.all: three queries at once, from this one thread.
  auto [growth, purchases, top] = co_await plexus::all(plexus::async_get(analytics, growth_q, use_awaitable),
                                                       plexus::async_first(analytics, purchases_q, use_awaitable),
                                                       plexus::async_get(analytics, top_q, use_awaitable));
  co_return Reply{200,
                  {{"dashboard",
                    {{"user_growth", to_json(growth)},
                     {"purchase_metrics", to_json(purchases->row())},
                     {"top_events", to_json(top)}}}}};
}

namespace {

/// One part of a search: its rows as JSON, or nothing and the name of the
/// database that did not answer (a connection error; any other error goes on).
awaitable<std::pair<nlohmann::json, std::string>> part(const char* database, plexus::Connection& c, plexus::QueryBuilder q) {
  bool down = false;
  nlohmann::json rows;
  try {
    rows = to_json(co_await plexus::async_get(c, q, use_awaitable));
  } catch (const plexus::Error& e) {
    if (!e.is_connection_error()) throw;
    down = true;
  }
  if (down) co_return std::pair<nlohmann::json, std::string>(nlohmann::json::array(), database);
  co_return std::pair<nlohmann::json, std::string>(std::move(rows), "");
}

}  // namespace

awaitable<Reply> AsyncShop::search(std::string q) {
  if (q.size() < 3) co_return Reply{400, {{"error", "Search query must be at least 3 characters"}}};
  // The user's text is matched literally: its % and _ are no wildcards.
  const std::string pattern = contains_pattern(q);
  auto& users = m_db.connection("users_db");
  auto& orders = m_db.connection("orders_db");
  auto& analytics = m_db.connection("analytics");
  const auto users_q = users.table("users").select({"id", "name", "email"}).where_raw("name LIKE ? ESCAPE '!'", {pattern}).limit(10);
  const auto orders_q = orders.table("orders")
                            .select({"id", "user_id", "total_amount", "created_at"})
                            .where(raw("(CAST(id AS CHAR(20)) LIKE ? ESCAPE '!' OR CAST(user_id AS CHAR(20)) LIKE ? ESCAPE '!')",
                                       {pattern, pattern}))
                            .order_by("id")
                            .limit(10);
  const auto events_q = analytics.table("events")
                            .select({"id", "event_type", "user_id", "data", "created_at"})
                            .where(raw("event_type LIKE ? ESCAPE '!'", {pattern}))
                            .order_by("id")
                            .limit(10);
  // Three databases at once; one that does not answer leaves its part empty, named.
  auto [found_users, found_orders, found_events] =
      co_await plexus::all(part("users_db", users, users_q), part("orders_db", orders, orders_q),
                           part("analytics", analytics, events_q));
  nlohmann::json unavailable = nlohmann::json::array();
  for (const auto* p : {&found_users, &found_orders, &found_events})
    if (!p->second.empty()) unavailable.push_back(p->second);
  nlohmann::json body{{"results", {{"users", found_users.first}, {"orders", found_orders.first}, {"events", found_events.first}}}};
  if (!unavailable.empty()) body["unavailable"] = unavailable;
  co_return Reply{200, body};
}

awaitable<Reply> AsyncShop::create_shard_user(nlohmann::json body) {
  const auto id = need_int(body, "id");
  auto& users = m_db.shards("users_shards");
  const plexus::Fields row{{"id", id}, {"name", need_text(body, "name")}, {"email", need_text(body, "email")}};
  co_await plexus::async_insert(users, users.table("users"), row, use_awaitable);
  co_return Reply{201, {{"message", "User created"}, {"data", {{"id", id}, {"shard", users.shard(id).name()}}}}};
}

awaitable<Reply> AsyncShop::shard_user(std::int64_t id) {
  auto& users = m_db.shards("users_shards");
  const auto one = users.table("users").where("id", id).limit(1);  // one shard: the one owning id
  const plexus::Result r = co_await plexus::async_get(users, one, use_awaitable);
  if (r.empty()) co_return Reply{404, {{"error", "User not found"}}};
  co_return Reply{200, {{"data", to_json(r[0])}, {"shard", users.shard(id).name()}}};
}

awaitable<Reply> AsyncShop::create_shard_order(nlohmann::json body) {
  const auto user_id = need_int(body, "user_id");
  const double total = need_number(body, "total_amount");
  const std::int64_t id = m_blocking.next_order_id();
  auto& orders = m_db.shards("orders_shards");
  const plexus::Fields row{{"id", id}, {"user_id", user_id}, {"total_amount", total}, {"created_at", now()}};
  co_await plexus::async_insert(orders, orders.table("orders"), row, use_awaitable);
  co_return Reply{201,
                  {{"message", "Order created"},
                   {"data", {{"id", id}, {"user_id", user_id}, {"total_amount", total}, {"shard", orders.shard(user_id).name()}}}}};
}

awaitable<Reply> AsyncShop::health() {
  // Migrations left pending at start are tried again on the pool's thread
  // (they have no asynchronous twin); every database is probed at once.
  const bool migrated = co_await boost::asio::co_spawn(
      m_blocking_work, [this]() -> awaitable<bool> { co_return m_blocking.retry_migrations(); }, use_awaitable);
  co_return m_blocking.health_reply(co_await plexus::async_health(m_db), migrated);
}

}  // namespace shop

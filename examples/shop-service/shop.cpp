#include "shop.hpp"

#include <charconv>
#include <chrono>
#include <limits>

namespace shop {

using namespace std::chrono;
using plexus::raw;

namespace {

nlohmann::json value_json(const plexus::Value& v) {
  using T = plexus::Value::Type;
  switch (v.type()) {
    case T::null: return nullptr;
    case T::boolean: return v.raw_bool();
    case T::integer: return v.raw_int();
    case T::real: return v.raw_real();
    case T::text: return v.raw_text();
    default: return v.to_string();
  }
}

}  // namespace

nlohmann::json user_json(const User& u) { return {{"id", u.id}, {"name", u.name}, {"email", u.email}}; }

plexus::Timestamp now() { return time_point_cast<microseconds>(system_clock::now()); }

std::string need_text(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_string() || body[key].get<std::string>().empty())
    throw plexus::UsageError(std::string("the body needs \"") + key + "\" (text)");
  return body[key].get<std::string>();
}

double need_number(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_number()) throw plexus::UsageError(std::string("the body needs \"") + key + "\" (a number)");
  return body[key].get<double>();
}

std::int64_t need_int(const nlohmann::json& body, const char* key) {
  // nlohmann reads a non-negative integer as unsigned: one past int64 is refused, never wrapped.
  const bool fits = body.contains(key) && body[key].is_number_integer() &&
                    (!body[key].is_number_unsigned() ||
                     body[key].get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  if (!fits) throw plexus::UsageError(std::string("the body needs \"") + key + "\" (an integer of 64 bits)");
  return body[key].get<std::int64_t>();
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

std::string contains_pattern(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '!') out += '!';
    out += c;
  }
  return out + "%";
}

nlohmann::json to_json(const plexus::Row& row) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < row.size(); ++i) j[row.columns()[i]] = value_json(row[i]);
  return j;
}

nlohmann::json to_json(const plexus::Result& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& row : rows) j.push_back(to_json(row));
  return j;
}

plexus::MigrationReport Shop::migrate_some(const std::vector<std::string>& connections) {
  plexus::Migrator migrator(m_db);
  auto report = migrator.migrate_all(connections);
  std::vector<std::string> down, broken;
  for (const auto& t : report.targets) {
    if (t.state != plexus::MigrationTarget::State::failed) continue;
    // Down (no answer) waits for the database; anything else is a broken migration.
    if (m_db.connection(t.connection).health().status() == "down") down.push_back(t.connection);
    else broken.push_back(t.connection);
  }
  if (!broken.empty()) throw plexus::UsageError("migrations failed:\n" + report.to_string());
  std::lock_guard lock(m_mutex);
  m_pending = down;
  return report;
}

std::string Shop::migrate() {
  auto report = migrate_some(plexus::Migrator(m_db).configured());
  std::string text = report.to_string();
  for (const auto& name : m_pending)
    text += "database " + name + " is down: the service starts without it and migrates it when it answers\n";
  return text;
}

bool Shop::retry_migrations() {
  std::vector<std::string> pending;
  {
    std::lock_guard lock(m_mutex);
    pending = m_pending;
  }
  if (pending.empty()) return true;
  try {
    (void)migrate_some(pending);
  } catch (const plexus::Error&) {
    // A broken migration: left pending, /health keeps saying so.
  }
  std::lock_guard lock(m_mutex);
  return m_pending.empty();
}

Reply Shop::from_error(const std::exception& e) {
  const auto* err = dynamic_cast<const plexus::Error*>(&e);
  if (!err) return {500, {{"error", "internal error"}}};
  nlohmann::json body{{"error", err->message()}};
  if (!err->connection().empty()) body["database"] = err->connection();
  if (err->is_connection_error()) return {503, {{"error", "database unavailable"}, {"database", err->connection()}}, 5};
  // Saturated (no session free in time, a statement past its timeout): try
  // again shortly. The pool's own words stay in the log, not in the answer.
  if (err->is_timeout()) return {503, {{"error", "database busy, try again"}, {"database", err->connection()}}, 1};
  if (err->is_constraint_violation()) return {409, body};
  if (err->kind() == plexus::ErrorKind::usage || err->kind() == plexus::ErrorKind::conversion) return {400, body};
  return {500, body};
}

Reply Shop::create_user(const nlohmann::json& body) {
  const std::string name = need_text(body, "name"), email = need_text(body, "email");
  // The user in users_db (the model's connection)...
  auto user = m_db.model<User>().create({{"name", name}, {"email", email}});
  // ...and the event in analytics, through the query builder on that connection.
  m_db.table("events", "analytics")
      .insert({{"event_type", "user_created"},
               {"user_id", user.id},
               {"data", nlohmann::json{{"name", name}, {"email", email}}.dump()},
               {"created_at", now()}});
  // Today's growth: one more new user (the row is made by the first user of the day).
  const plexus::Date today{floor<days>(system_clock::now())};
  auto growth = m_db.table("user_growth", "analytics");
  const auto bump = [&] {
    return m_db.connection("analytics").execute(
        "UPDATE user_growth SET new_users = new_users + 1, active_users = active_users + 1 WHERE date = ?", {today});
  };
  if (bump().affected_rows() == 0) {
    try {
      growth.insert({{"date", today}, {"new_users", 1}, {"active_users", 1}});
    } catch (const plexus::Error& e) {
      if (!e.is_constraint_violation()) throw;
      bump();  // another request made today's row first
    }
  }
  return {201, {{"message", "User created"}, {"data", user_json(user)}}};
}

Reply Shop::user_with_order_stats(std::int64_t id) {
  nlohmann::json user;
  if (auto u = m_db.model<User>().find(id)) {  // a read: a replica of users_db answers
    user = user_json(*u);
  } else if (auto r = m_db.connection("users_db").on_primary().table("users").select({"id", "name", "email"}).where("id", id).first()) {
    // A miss on a replica may be a user created a moment ago that it has not
    // replayed yet: the primary confirms before the answer is 404.
    user = to_json(r->row());
  } else {
    return {404, {{"error", "User not found"}}};
  }
  auto stats = m_db.table("orders", "orders_db")
                   .select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent"),
                            raw("AVG(total_amount) AS avg_order_value"), raw("MAX(created_at) AS last_order_date")})
                   .where("user_id", id)
                   .first();
  return {200, {{"data", {{"user", user}, {"order_stats", to_json(stats->row())}}}}};
}

Reply Shop::create_order(const nlohmann::json& body) {
  const auto user_id = need_int(body, "user_id");
  const double total = need_number(body, "total_amount");
  const auto id = m_db.table("orders", "orders_db")
                      .insert_get_id({{"user_id", user_id}, {"total_amount", total}, {"created_at", now()}});
  // The purchase as analytics sees it (a separate write: analytics may lag the order, never lead it).
  m_db.table("purchase_metrics", "analytics").insert({{"user_id", user_id}, {"amount", total}, {"date", now()}});
  m_db.table("events", "analytics")
      .insert({{"event_type", "purchase"}, {"user_id", user_id}, {"data", nlohmann::json{{"order_id", id}}.dump()}, {"created_at", now()}});
  return {201, {{"message", "Order created"}, {"data", {{"id", id}, {"user_id", user_id}, {"total_amount", total}}}}};
}

Reply Shop::dashboard() {
  const auto month_ago = now() - hours(24 * 30), day_ago = now() - hours(24);
  // The seed's Promise.all: three queries at once on the analytics database.
  auto [growth, purchases, top] = m_db.concurrently(
      [&] {
        return m_db.table("user_growth", "analytics")
            .select({"date", "new_users", "active_users"})
            .where("date", ">=", month_ago)
            .order_by("date", "DESC")
            .get();
      },
      [&] {
        return m_db.table("purchase_metrics", "analytics")
            .select({raw("SUM(amount) AS total_revenue"), raw("COUNT(DISTINCT user_id) AS unique_buyers"),
                     raw("AVG(amount) AS avg_purchase")})
            .where("date", ">=", day_ago)
            .first();
      },
      [&] {
        return m_db.table("events", "analytics")
            .select({"event_type", raw("COUNT(*) AS count")})
            .where("created_at", ">=", day_ago)
            .group_by({"event_type"})
            .order_by("count", "DESC")
            .limit(10)
            .get();
      });
  return {200,
          {{"dashboard",
            {{"user_growth", to_json(growth)}, {"purchase_metrics", to_json(purchases->row())}, {"top_events", to_json(top)}}}}};
}

Reply Shop::search(const std::string& q) {
  if (q.size() < 3) return {400, {{"error", "Search query must be at least 3 characters"}}};
  // The user's text is matched literally: its % and _ are no wildcards.
  const std::string pattern = contains_pattern(q);
  const auto like = [&](const char* column) { return plexus::raw(std::string(column) + " LIKE ? ESCAPE '!'", {pattern}); };
  nlohmann::json unavailable = nlohmann::json::array();
  // Three databases at once; one that does not answer leaves its part empty, named.
  auto part = [](const char* database, auto&& run) {
    try {
      return std::pair<nlohmann::json, std::string>(run(), "");
    } catch (const plexus::Error& e) {
      if (!e.is_connection_error()) throw;
      return std::pair<nlohmann::json, std::string>(nlohmann::json::array(), database);
    }
  };
  auto [users, orders, events] = m_db.concurrently(
      [&] {
        return part("users_db", [&] {
          nlohmann::json out = nlohmann::json::array();
          for (const auto& u : m_db.model<User>().query().where_raw("name LIKE ? ESCAPE '!'", {pattern}).limit(10).get())
            out.push_back(user_json(u));
          return out;
        });
      },
      [&] {
        return part("orders_db", [&] {
          return to_json(m_db.table("orders", "orders_db")
                             .select({"id", "user_id", "total_amount", "created_at"})
                             .where(raw("(CAST(id AS CHAR(20)) LIKE ? ESCAPE '!' OR CAST(user_id AS CHAR(20)) LIKE ? ESCAPE '!')",
                                        {pattern, pattern}))
                             .order_by("id")
                             .limit(10)
                             .get());
        });
      },
      [&] {
        return part("analytics", [&] {
          return to_json(m_db.table("events", "analytics")
                             .select({"id", "event_type", "user_id", "data", "created_at"})
                             .where(like("event_type"))
                             .order_by("id")
                             .limit(10)
                             .get());
        });
      });
  for (auto* p : {&users, &orders, &events})
    if (!p->second.empty()) unavailable.push_back(p->second);
  nlohmann::json body{{"results", {{"users", users.first}, {"orders", orders.first}, {"events", events.first}}}};
  if (!unavailable.empty()) body["unavailable"] = unavailable;
  return {200, body};
}

Reply Shop::create_shard_user(const nlohmann::json& body) {
  const auto id = need_int(body, "id");
  auto& users = m_db.shards("users_shards");
  users.table("users").insert({{"id", id}, {"name", need_text(body, "name")}, {"email", need_text(body, "email")}});
  return {201, {{"message", "User created"}, {"data", {{"id", id}, {"shard", users.shard(id).name()}}}}};
}

Reply Shop::shard_user(std::int64_t id) {
  auto& users = m_db.shards("users_shards");
  auto user = users.table("users").where("id", id).first();  // one shard: the one owning id
  if (!user) return {404, {{"error", "User not found"}}};
  return {200, {{"data", to_json(user->row())}, {"shard", users.shard(id).name()}}};
}

std::int64_t Shop::next_order_id() {
  const auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  return (ms << 12) | (m_next_order.fetch_add(1) & 0xfff);
}

Reply Shop::create_shard_order(const nlohmann::json& body) {
  const auto user_id = need_int(body, "user_id");
  const double total = need_number(body, "total_amount");
  // The seed wrote every order to orders_shard_1 "initially" because the id
  // was not known yet; here the order goes to the shard owning its user.
  const std::int64_t id = next_order_id();
  auto& orders = m_db.shards("orders_shards");
  orders.table("orders").insert({{"id", id}, {"user_id", user_id}, {"total_amount", total}, {"created_at", now()}});
  return {201,
          {{"message", "Order created"},
           {"data", {{"id", id}, {"user_id", user_id}, {"total_amount", total}, {"shard", orders.shard(user_id).name()}}}}};
}

Reply Shop::health() {
  const bool migrated = retry_migrations();
  return health_reply(m_db.health(), migrated);
}

Reply Shop::health_reply(const std::vector<plexus::ConnectionHealth>& reports, bool migrated) {
  nlohmann::json databases = nlohmann::json::object();
  std::string status = "healthy";
  for (const auto& h : reports) {
    const std::string s = h.status();
    databases[h.name] = {{"status", s}, {"connected", h.connected}, {"type", h.type}};
    if (s == "down") status = "down";
    else if (s == "degraded" && status == "healthy") status = "degraded";
  }
  const std::string overall = status == "down" || !migrated ? "degraded" : status;
  nlohmann::json body{{"status", overall}, {"databases", databases}, {"timestamp", plexus::format_timestamp(now())}};
  if (!migrated) {
    std::lock_guard lock(m_mutex);
    body["migrations_pending"] = m_pending;
  }
  return {status == "down" ? 503 : 200, body, status == "down" ? 5 : 0};
}

}  // namespace shop

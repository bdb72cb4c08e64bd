// The seed's controllers as a service core: each handler takes what the HTTP
// request carried and returns a status and a JSON body. main.cpp puts them
// behind cpp-httplib; example_controllers calls them directly.
//
// Databases (names as in the seed's src/config/database.ts):
//   users_db   the users (a model bound to it by its schema)
//   orders_db  the orders
//   analytics  events, user_growth, purchase_metrics
//   users_shards / orders_shards  shard groups: users by id, orders by user_id
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>

namespace shop {

struct Reply {
  int status = 200;
  nlohmann::json body;
  int retry_after = 0;  ///< seconds, sent as Retry-After with a 503
};

/// The users_db model: every operation goes to users_db, reads to its replicas.
struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  static constexpr auto schema = plexus::schema("users", plexus::col<&User::id>("id", plexus::primary_key),
                                                plexus::col<&User::name>("name"), plexus::col<&User::email>("email"))
                                     .connection("users_db");
};
nlohmann::json user_json(const User& u);

/// Now, to the microsecond (the services' created_at).
plexus::Timestamp now();
/// A body's field, or a UsageError naming it (the handler answers 400).
std::string need_text(const nlohmann::json& body, const char* key);
double need_number(const nlohmann::json& body, const char* key);
std::int64_t need_int(const nlohmann::json& body, const char* key);

/// A path's id: a positive 64-bit integer, or nothing (the handler answers 400).
std::optional<std::int64_t> parse_id(std::string_view text);
/// `text` as a LIKE pattern that matches it literally, inside "%…%" ('!' escapes).
std::string contains_pattern(std::string_view text);

class Shop {
 public:
  explicit Shop(plexus::Database& db) : m_db(db) {}

  /// Applies every connection's migrations (their folders are in the
  /// configuration); returns the report's text. A database that is down is
  /// left for later (the service starts degraded and says so in /health;
  /// retry_migrations() applies them once it answers); any other failure throws.
  std::string migrate();
  /// Migrates the databases that were down; true when none is left.
  bool retry_migrations();

  /// POST /users {name, email}: the user in users_db, an event in analytics.
  Reply create_user(const nlohmann::json& body);
  /// GET /users/:id: the user (users_db) with order stats (orders_db).
  Reply user_with_order_stats(std::int64_t id);
  /// POST /orders {user_id, total_amount}: one order in orders_db.
  Reply create_order(const nlohmann::json& body);
  /// GET /dashboard: three analytics queries run at once.
  Reply dashboard();
  /// GET /search?q=: users, orders and events; q shorter than 3 characters is a 400.
  /// A database that does not answer is listed under "unavailable"; the rest still answer.
  Reply search(const std::string& q);
  /// POST /shards/users {id, name, email}: on the shard owning id.
  Reply create_shard_user(const nlohmann::json& body);
  /// GET /shards/users/:id: from the shard owning id.
  Reply shard_user(std::int64_t id);
  /// POST /shards/orders {user_id, total_amount}: on the shard owning user_id.
  Reply create_shard_order(const nlohmann::json& body);
  /// GET /health: healthy/degraded/down per database; 503 when one is down.
  Reply health();
  /// The /health answer from the databases' reports (`migrated`: no
  /// migration is left pending).
  Reply health_reply(const std::vector<plexus::ConnectionHealth>& reports, bool migrated);

  /// An order id made before the insert, so the order can go to the shard
  /// owning its user: time in ms, then a counter.
  std::int64_t next_order_id();

  /// What an exception becomes: 503 when a database is unreachable (naming
  /// it), 409 on a constraint, 400 on bad input, else 500.
  static Reply from_error(const std::exception& e);

 private:
  /// Runs the migrations of `connections`; returns the report, and leaves the
  /// databases that were down in m_pending.
  plexus::MigrationReport migrate_some(const std::vector<std::string>& connections);

  plexus::Database& m_db;
  std::atomic<std::int64_t> m_next_order{0};
  std::mutex m_mutex;
  std::vector<std::string> m_pending;  ///< databases whose migrations wait for them to answer
};

/// A row as a JSON object (timestamps as ISO 8601 text).
nlohmann::json to_json(const plexus::Row& row);
nlohmann::json to_json(const plexus::Result& rows);

}  // namespace shop

// Must not compile: a SQL join between models whose schemas declare different
// connections. Built with -DPLEXUS_SAME_CONNECTION it must compile (the control).
#include <plexus/plexus.hpp>

struct User {
  std::int64_t id = 0;
  static constexpr auto schema = plexus::schema("users", plexus::col<&User::id>("id", plexus::primary_key)).connection("users_db");
};

struct Event {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
#ifdef PLEXUS_SAME_CONNECTION
  static constexpr auto schema = plexus::schema("events", plexus::col<&Event::id>("id", plexus::primary_key),
                                                plexus::col<&Event::user_id>("user_id")).connection("users_db");
#else
  static constexpr auto schema = plexus::schema("events", plexus::col<&Event::id>("id", plexus::primary_key),
                                                plexus::col<&Event::user_id>("user_id")).connection("analytics");
#endif
};

void query(plexus::Database& db) {
  auto rows = db.model<User>().query().join<Event>("events.user_id", "=", "users.id").get();
  (void)rows;
}

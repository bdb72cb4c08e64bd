// Typed models bound to the databases that own them: users and posts on
// users_db, events on analytics. Relations load across databases with one
// query per relation; where_has filters across databases in two queries.
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

struct Post;
struct AnalyticsEvent;

struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  bool is_admin = false;
  Timestamp created_at{};
  std::vector<Post> posts;
  std::vector<AnalyticsEvent> events;

  static constexpr auto schema = plexus::schema("users",
      col<&User::id>("id", primary_key),
      col<&User::name>("name"),
      col<&User::email>("email"),
      col<&User::is_admin>("is_admin", guarded),
      col<&User::created_at>("created_at", plexus::created_at))
      .connection("users_db");
};

struct Post {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string title;
  static constexpr auto schema = plexus::schema("posts", col<&Post::id>("id", primary_key),
                                                col<&Post::user_id>("user_id"), col<&Post::title>("title"))
                                     .connection("users_db");
};

struct AnalyticsEvent {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string event_type;
  static constexpr auto schema = plexus::schema("events", col<&AnalyticsEvent::id>("id", primary_key),
                                                col<&AnalyticsEvent::user_id>("user_id"),
                                                col<&AnalyticsEvent::event_type>("event_type"))
                                     .connection("analytics");
};

constexpr auto posts = has_many<&User::posts, &Post::user_id>();
constexpr auto events = has_many<&User::events, &AnalyticsEvent::user_id>();

int main(int argc, char** argv) {
  std::filesystem::path dir = argc > 1 ? argv[1] : "var/models";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("users_db", sqlite((dir / "users.sqlite").string()));
  config.add("analytics", sqlite((dir / "analytics.sqlite").string()));
  Database db(config);
  int queries = 0;
  db.on_before_query([&](const QueryEvent&) { ++queries; });

  db.connection("users_db").execute(
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE, is_admin BOOLEAN, created_at TIMESTAMP)");
  db.connection("users_db").execute("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT)");
  db.connection("analytics").execute("CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, event_type TEXT)");

  auto User_ = db.model<User>();            // bound to users_db by its schema
  auto Event = db.model<AnalyticsEvent>();  // bound to analytics
  auto john = User_.create({{"name", "John"}, {"email", "john@example.com"}});
  auto jane = User_.create({{"name", "Jane"}, {"email", "jane@example.com"}});
  db.model<Post>().create({{"user_id", john.id}, {"title", "Hello"}});
  Event.create({{"user_id", jane.id}, {"event_type", "purchase"}});

  // find, change, save: only the changed column is written, back to users_db.
  auto u = User_.find(john.id);
  u->name = "Johnny";
  User_.save(*u);

  // Eager loading across databases: users, posts (users_db), events (analytics).
  queries = 0;
  auto all = User_.query().with(posts).with(events).order_by("id").get();
  std::cout << all.size() << " users with relations in " << queries << " queries\n";
  for (const auto& user : all)
    std::cout << "  " << user.name << ": " << user.posts.size() << " post(s), " << user.events.size() << " event(s)\n";

  // where_has across databases: two queries, no cross-database join.
  auto buyers = User_.query().where_has(events, [](QueryBuilder& q) { q.where("event_type", "purchase"); }).get();
  std::cout << "buyers: " << buyers.size() << " (" << buyers.at(0).name << ")\n";

  // One query on another connection, the seed's Model.db('analytics').
  auto recent = Event.on("analytics").where("event_type", "purchase").order_by_desc("id").limit(100).get();
  std::cout << recent.size() << " purchase event(s) from " << recent.at(0).origin() << "\n";

  // Mass assignment refuses guarded columns.
  try {
    User_.create({{"name", "Mallory"}, {"email", "m@example.com"}, {"is_admin", true}});
  } catch (const UsageError& e) {
    std::cout << "refused: " << e.message() << "\n";
  }
  std::cout << User_.to_json(User_.find_or_fail(jane.id)) << "\n";
  return all.size() == 2 && buyers.size() == 1 ? 0 : 1;
}

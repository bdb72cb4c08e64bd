// The seed's "Method 2": a model whose default connection is `postgresql`,
// switched to `analytics` for one query (the seed's AnalyticsEvent.db('analytics')),
// then back.
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

struct AnalyticsEvent {
  std::int64_t id = 0;
  std::string event_type;
  std::int64_t user_id = 0;
  std::string data;
  Timestamp created_at{};
  static constexpr auto schema =
      plexus::schema("events", col<&AnalyticsEvent::id>("id", primary_key), col<&AnalyticsEvent::event_type>("event_type"),
                     col<&AnalyticsEvent::user_id>("user_id"), col<&AnalyticsEvent::data>("data"),
                     col<&AnalyticsEvent::created_at>("created_at", plexus::created_at))
          .connection("postgresql");
};

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/per_query_switch";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("postgresql", sqlite((dir / "main.sqlite").string()));  // SQLite files stand in for both servers
  config.add("analytics", sqlite((dir / "analytics.sqlite").string()));
  Database db(config);
  std::vector<std::string> route;
  db.on_after_query([&](const QueryEvent& e) { route.emplace_back(e.connection); });
  for (const char* c : {"postgresql", "analytics"})
    db.connection(c).execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, event_type TEXT, user_id INTEGER, data TEXT, created_at TIMESTAMP)");
  db.model<AnalyticsEvent>().create({{"event_type", "login"}, {"user_id", 1}, {"data", "{}"}});
  for (int i = 0; i < 3; ++i)
    db.model<AnalyticsEvent>().bind("analytics").create({{"event_type", "purchase"}, {"user_id", i}, {"data", "{}"}});
  route.clear();

  auto Event = db.model<AnalyticsEvent>();
  auto recent = Event.where("event_type", "login").get();  // postgresql (the model's connection)
  auto purchases = Event.on("analytics")                   // this one query on analytics
                       .where("event_type", "=", "purchase")
                       .order_by("created_at", "DESC")
                       .limit(100)
                       .get();
  auto all = Event.all();  // back on postgresql
  std::cout << recent.size() << " login(s) on " << route.at(0) << ", " << purchases.size() << " purchase(s) on " << route.at(1)
            << ", " << all.size() << " event(s) on " << route.at(2) << "\n";
  return purchases.size() == 3 && route == std::vector<std::string>{"postgresql", "analytics", "postgresql"} ? 0 : 1;
}

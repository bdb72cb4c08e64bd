// The seed's setupDbLogging: every query on the main database logged before
// and after (SQL, values, duration, the host that ran it), slow ones flagged
// per connection with their own threshold.
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/query_logging";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("postgresql", sqlite((dir / "main.sqlite").string()));
  config.add("analytics", sqlite((dir / "analytics.sqlite").string()));
  Database db(config);
  auto& main_db = db.connection("postgresql");
  auto& analytics = db.connection("analytics");

  // Log all queries to the main database (values are shown: this one does not redact them).
  main_db.on_before_query([](const QueryEvent& e) {
    std::cout << "debug postgresql query: " << e.sql << " [" << e.bindings.size() << " value(s)]\n";
  });
  main_db.on_after_query([](const QueryEvent& e) {
    std::cout << "debug postgresql done in " << std::chrono::duration_cast<std::chrono::microseconds>(e.duration).count()
              << " us on " << e.role << " (" << e.rows << " row(s))\n";
  });
  // Slow queries: 1 s on the main database, 5 ms on analytics (the seed used 1000 ms and 5000 ms).
  int slow = 0;
  main_db.on_slow_query(1s, [&](const QueryEvent& e) { std::cout << "warn slow query: " << e.sql << "\n", ++slow; });
  analytics.on_slow_query(5ms, [&](const QueryEvent& e) {
    ++slow;
    std::cout << "warn slow analytics query (" << std::chrono::duration_cast<std::chrono::milliseconds>(e.duration).count()
              << " ms): " << e.sql.substr(0, 40) << "…\n";
  });

  main_db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
  main_db.execute("INSERT INTO users (name) VALUES (?)", {"Ada"});
  (void)main_db.table("users").where("name", "Ada").first();
  // A heavy analytics query: counting to three million takes well over 5 ms.
  const auto n = analytics.scalar(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT COUNT(*) FROM c");
  (void)analytics.scalar("SELECT 1");  // fast: not flagged
  std::cout << "counted " << n.to_string() << "; " << slow << " slow query flagged\n";
  return slow == 1 ? 0 : 1;
}

// The seed's "Method 1": the connection in the model's definition. Every
// User operation (find, where, create, save) goes to users_db, and the query
// log shows it.
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

/// User model. Database: users_db. Related: AnalyticsEvent (analytics).
struct User {
  std::int64_t id = 0;
  std::string name;
  std::string email;
  bool is_admin = false;
  static constexpr auto schema = plexus::schema("users", col<&User::id>("id", primary_key), col<&User::name>("name"),
                                                col<&User::email>("email"), col<&User::is_admin>("is_admin", guarded))
                                     .connection("users_db");  // all User operations use users_db
};

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/model_connection";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("sqlite", sqlite((dir / "main.sqlite").string()));  // the default connection
  config.add("users_db", sqlite((dir / "users.sqlite").string()));
  config.default_connection = "sqlite";
  Database db(config);
  std::map<std::string, int> per_connection;
  db.on_after_query([&](const QueryEvent& e) { ++per_connection[std::string(e.connection)]; });
  db.connection("users_db").execute(
      "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE, is_admin BOOLEAN DEFAULT 0)");
  per_connection.clear();

  auto users = db.model<User>();  // bound to users_db by its schema, not to the default
  auto john = users.create({{"name", "John"}, {"email", "john@example.com"}});
  auto user = users.find(john.id);
  auto admins = users.where("is_admin", "=", true).get();
  user->name = "John Smith";
  users.save(*user);  // saves to users_db

  std::cout << "user " << user->id << " (" << users.find_or_fail(john.id).name << "), " << admins.size() << " admin(s)\n";
  for (const auto& [conn, n] : per_connection) std::cout << n << " queries on " << conn << "\n";
  return per_connection.size() == 1 && per_connection.count("users_db") ? 0 : 1;
}

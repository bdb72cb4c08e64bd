// The seed's HealthController: each database connected or not, its type, and
// the overall status: healthy when all answer, else degraded. Here the
// analytics server is unreachable (nothing listens on 127.0.0.1:1).
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/health_check";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;
  config.add("postgresql", sqlite((dir / "main.sqlite").string()));
  config.add("users_db", sqlite((dir / "users.sqlite").string()));
  config.add("analytics", parse_url("postgresql://analytics_user:analytics_secret@127.0.0.1:1/analytics_db?connect_timeout=2"));
  Database db(config);
  db.connection("postgresql").execute("SELECT 1");
  db.connection("users_db").execute("SELECT 1");

  bool all_connected = true;
  for (const auto& h : db.health()) {
    std::cout << h.name << ": " << (h.connected ? "connected" : "not connected") << ", type " << h.type << ", " << h.status();
    for (const auto& host : h.hosts)
      if (!host.error.empty()) std::cout << " (" << host.error << ")";
    std::cout << "\n";
    all_connected = all_connected && h.connected;
  }
  std::cout << "status: " << (all_connected ? "healthy" : "degraded") << "\n";
  // The error names the connection and the host, never the password.
  try {
    db.connection("analytics").execute("SELECT 1");
  } catch (const Error& e) {
    std::cout << "analytics: " << (e.is_connection_error() ? "connection error" : "other error") << " on "
              << e.connection() << "; password shown: " << (std::string(e.what()).find("analytics_secret") != std::string::npos) << "\n";
  }
  return all_connected ? 1 : 0;
}

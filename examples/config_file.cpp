// Loading connections from config/database.toml (with .env and ${VAR} support)
// and asking each one whether it is up.
#include <iostream>

#include <plexus/plexus.hpp>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "config/database.toml";
  try {
    auto db = plexus::Database::from_file(path);
    std::cout << db.config().to_string();  // passwords are shown as ***
    std::cout << "default connection: " << db.connection().name() << "\n";
    for (const auto& h : db.health())
      std::cout << h.name << ": " << (h.healthy ? "up" : "down") << " (" << h.type << ")\n";
  } catch (const plexus::ConfigError& e) {
    std::cerr << e.what() << "\n";  // names the file, the key and the problem
    return 2;
  }
  return 0;
}

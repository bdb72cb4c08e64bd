// The seed's configuration from environment variables with its exact names
// (examples/env_config.toml). A variable that is not set is a clear error
// naming it; with them set, every connection is asked whether it answers.
//   env_config [CONFIG]   (default: examples/env_config.toml)
#include <iostream>

#include <plexus/plexus.hpp>

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "examples/env_config.toml";
  plexus::Env env = plexus::Env::system();
  env.load_dotenv(".env");  // DB_HOST=… lines, if the file is there
  try {
    plexus::Database db(plexus::DatabaseConfig::from_toml_file(path, env));
    std::cout << "default connection: " << db.config().default_connection << "\n";
    // The seed's useEnsureDbConnected: open each connection once (this creates the SQLite file).
    for (const auto& name : db.connection_names()) {
      try {
        (void)db.connection(name).scalar("SELECT 1");
      } catch (const plexus::Error& e) {
        std::cout << e.what() << "\n";
      }
    }
    int up = 0, total = 0;
    for (const auto& h : db.health()) {
      const auto& c = db.connection(h.name).config();
      std::cout << h.name << " (" << h.type << ") " << c.username << "@"
                << (c.hosts.empty() ? c.database : c.hosts.at(0).to_string() + "/" + c.database) << ": " << h.status() << "\n";
      up += h.status() == "healthy" ? 1 : 0;
      ++total;
    }
    std::cout << up << " of " << total << " connections answer\n";
    return up == total ? 0 : 1;
  } catch (const plexus::ConfigError& e) {
    std::cout << e.what() << "\n";  // e.g. environment variable DB_HOST is not set
    return 2;
  }
}

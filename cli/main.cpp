// The plexus command: demo, health, query.
#include <iostream>

#include <CLI/CLI.hpp>

#include "demo.hpp"
#include "output.hpp"
#include "plexus/plexus.hpp"

namespace {

plexus::Database open_config(const std::string& path) { return plexus::Database::from_file(path); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plexus: many databases at once"};
  app.require_subcommand(1);
  std::string config = "config/database.toml";
  bool json = false;

  auto* demo = app.add_subcommand("demo", "Two SQLite databases, each table bound to its own connection");
  std::string demo_dir = "var/demo";
  demo->add_option("--dir", demo_dir, "Where to create the demo databases")->capture_default_str();

  auto* health = app.add_subcommand("health", "Ping every configured connection and host");
  health->add_option("-c,--config", config, "Configuration file")->capture_default_str();
  health->add_flag("--json", json, "Print JSON");

  auto* query = app.add_subcommand("query", "Run one SQL statement on a named connection");
  std::string conn_name, sql;
  bool read = false;
  query->add_option("connection", conn_name, "Connection name")->required();
  query->add_option("sql", sql, "SQL to run")->required();
  query->add_option("-c,--config", config, "Configuration file")->capture_default_str();
  query->add_flag("--json", json, "Print JSON");
  query->add_flag("--read", read, "The statement only reads (may go to a replica)");

  CLI11_PARSE(app, argc, argv);

  try {
    if (*demo) return plexus::cli::run_demo(std::cout, demo_dir);
    if (*health) {
      auto db = open_config(config);
      auto all = db.health();
      bool ok = true;
      for (const auto& h : all) ok = ok && h.healthy;
      if (json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& h : all) j.push_back(plexus::cli::to_json(h));
        std::cout << nlohmann::json{{"status", ok ? "healthy" : "degraded"}, {"connections", j}}.dump(2) << "\n";
      } else {
        plexus::cli::print_health(std::cout, all);
      }
      return ok ? 0 : 3;
    }
    if (*query) {
      auto db = open_config(config);
      auto r = db.connection(conn_name).query(sql, {}, read ? plexus::Intent::read : plexus::Intent::write);
      if (json) std::cout << plexus::cli::to_json(r).dump(2) << "\n";
      else plexus::cli::print_table(std::cout, r);
      return 0;
    }
  } catch (const plexus::Error& e) {
    std::cerr << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "plexus: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

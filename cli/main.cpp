// The plexus command: one group of commands a file (command.hpp), parsed
// here. Exit codes scripts can rely on: 0 ok, 1 a database said no (or is
// down), 2 a usage or configuration error.
#include <iostream>
#include <memory>
#include <vector>

#include "command.hpp"

#ifndef PLEXUS_VERSION
#define PLEXUS_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  using namespace plexus::cli;
  CLI::App app{"plexus: many databases at once"};
  app.set_version_flag("--version", std::string("plexus ") + PLEXUS_VERSION);
  app.require_subcommand(1);
  Common common;
  std::vector<std::unique_ptr<Command>> groups;
  groups.push_back(add_inspect(app, common));
  groups.push_back(add_query(app, common));
  groups.push_back(add_tx(app, common));
  groups.push_back(add_shards(app, common));
  groups.push_back(add_migrations(app, common));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    // An unknown command reads as one, not as "a subcommand is required".
    if (argc > 1 && argv[1][0] != '-') {
      std::string known;
      bool found = false;
      for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        known += (known.empty() ? "" : ", ") + sub->get_name();
        found = found || sub->get_name() == argv[1];
      }
      if (!found) what = std::string("unknown command '") + argv[1] + "' (commands: " + known + "; see plexus --help)";
    }
    std::cerr << "plexus: " << what << "\n";
    return kUsage;
  }

  try {
    for (auto& g : groups)
      if (auto rc = g->run()) return *rc;
  } catch (const plexus::Error& e) {
    return report(e, common.json);
  } catch (const std::exception& e) {
    std::cerr << "plexus: " << e.what() << "\n";
    return kDatabase;
  }
  return kOk;
}

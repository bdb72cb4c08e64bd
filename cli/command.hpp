// What the plexus command's groups share: the common options, opening the
// configuration, reading values and SQL, exit codes, errors, and the shape
// of a command group (one file each: inspect, query, tx, shards, migrations).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "plexus/plexus.hpp"

namespace plexus::cli {

/// Exit codes scripts can rely on: 0 ok, 1 a database said no (or is down),
/// 2 a usage or configuration error.
constexpr int kOk = 0, kDatabase = 1, kUsage = 2;

struct Common {
  std::string config = "config/database.toml";
  bool json = false;
  /// --connection, for the commands whose first argument is the connection.
  std::string connection;
};

/// -c/--config, and --json for a command that prints something to read.
void add_common(CLI::App* cmd, Common& c, bool reading);
plexus::Database open_config(const std::string& path, const std::string& coordinator = {});
std::vector<std::string> split_list(const std::string& s);
/// A -p value as the Value it reads as (docs/cli.md).
plexus::Value param_value(const std::string& s);
std::string read_sql(const std::string& sql, const std::string& file);
/// Prints `e` (as JSON with --json) and returns its exit code.
int report(const plexus::Error& e, bool json);
/// `cmd CONN …` or `cmd --connection CONN …`: with the option, the arguments
/// shift one place right. @throws UsageError for none, or both.
void take_connection(const Common& common, const char* command, std::vector<std::string*> args, bool last_required);

/// A group of commands: its constructor declares them on the app; run()
/// answers the exit code when one of them was chosen, nullopt otherwise.
class Command {
 public:
  virtual ~Command() = default;
  [[nodiscard]] virtual std::optional<int> run() = 0;

 protected:
  Command(CLI::App& app_, Common& common_) : app(app_), common(common_) {}
  CLI::App& app;
  Common& common;
};

std::unique_ptr<Command> add_inspect(CLI::App& app, Common& common);
std::unique_ptr<Command> add_query(CLI::App& app, Common& common);
std::unique_ptr<Command> add_tx(CLI::App& app, Common& common);
std::unique_ptr<Command> add_shards(CLI::App& app, Common& common);
std::unique_ptr<Command> add_migrations(CLI::App& app, Common& common);

}  // namespace plexus::cli

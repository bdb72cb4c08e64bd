// The plexus command: demo, health, metrics, config, console, completion, db show and db table: what the configuration and its databases are.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "command.hpp"
#include "demo.hpp"
#include "output.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::cli {
namespace {

class Inspect final : public Command {
 public:
  Inspect(CLI::App& app_, Common& common_) : Command(app_, common_) {
    demo = app.add_subcommand("demo", "Two SQLite databases, each table bound to its own connection");
    demo->add_option("--dir", demo_dir, "Where to create the demo databases")->capture_default_str();

    health = app.add_subcommand("health", "Ping every configured connection and host (exit 1 unless all answer)");
    add_common(health, common, true);
    health->add_option("--connection", health_conn, "Only this connection");

    metrics = app.add_subcommand(
        "metrics", "Ping every host, then print the metrics in the Prometheus text format (exit 1 unless all answer)");
    add_common(metrics, common, true);

    config_cmd = app.add_subcommand("config", "The resolved configuration (engines, hosts, options, groups), secrets masked");
    add_common(config_cmd, common, true);

    console = app.add_subcommand("console", "Open the engine's own client (psql, mariadb, sqlite3) on a connection");
    add_common(console, common, false);
    console->add_option("connection", console_conn, "Connection name (or --connection)");
    console->add_option("--connection", common.connection, "The connection (instead of the first argument)");
    console->add_flag("--print", console_print, "Print the command (and the names of the variables it sets) instead of running it");

    completion = app.add_subcommand("completion", "Print a bash completion script: source <(plexus completion bash)");
    completion->add_option("shell", completion_shell, "Only bash for now")->check(CLI::IsMember({"bash"}));

    db_cmd = app.add_subcommand("db", "What a connection holds: db show CONN (tables), db table CONN TABLE (columns, indexes)");
    db_cmd->require_subcommand(1);
    db_show = db_cmd->add_subcommand("show", "A connection's tables with row estimates and sizes");
    add_common(db_show, common, true);
    db_show->add_option("connection", db_conn, "Connection name (or --connection)");
    db_show->add_option("--connection", common.connection, "The connection (instead of the first argument)");
    db_table_cmd = db_cmd->add_subcommand("table", "A table's columns, types, defaults and indexes");
    add_common(db_table_cmd, common, true);
    db_table_cmd->add_option("connection", db_conn, "Connection name (or --connection)");
    db_table_cmd->add_option("table", db_table, "Table name");
    db_table_cmd->add_option("--connection", common.connection, "The connection (instead of the first argument)");

  }

  std::optional<int> run() override {
    if (*console) take_connection(common, "console", {&console_conn}, false);
    if (*db_show) take_connection(common, "db show", {&db_conn}, false);
    if (*db_table_cmd) take_connection(common, "db table", {&db_conn, &db_table}, true);
    if (*demo) {
      std::error_code ec;
      std::filesystem::create_directories(demo_dir, ec);
      if (ec || !std::filesystem::is_directory(demo_dir))
        throw plexus::UsageError("demo: cannot create the folder '" + demo_dir + "' (" +
                                 (ec ? ec.message() : std::string("not a folder")) + "); pass another one with --dir");
      return run_demo(std::cout, demo_dir);
    }
    if (*health) {
      auto db = open_config(common.config);
      auto all = health_conn.empty() ? db.health() : std::vector<plexus::ConnectionHealth>{db.connection(health_conn).health()};
      std::string overall = "healthy";
      for (const auto& h : all) {
        const std::string s = h.status();
        if (s == "down" || (s == "degraded" && overall == "healthy")) overall = s;
      }
      if (common.json) {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& h : all) j.push_back(to_json(h));
        std::cout << dump(nlohmann::json{{"status", overall}, {"connections", j}}) << "\n";
      } else {
        print_health(std::cout, all);
      }
      return overall == "healthy" ? kOk : kDatabase;
    }
    if (*config_cmd) {
      auto db = open_config(common.config);
      const auto j = config_json(db);
      if (common.json) {
        std::cout << dump(j) << "\n";
        return kOk;
      }
      std::cout << "default: " << (db.config().default_connection.empty() ? "(none)" : db.config().default_connection) << "\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : j["connections"]) {
        std::string hosts;
        for (const auto& h : c["hosts"]) hosts += (hosts.empty() ? "" : ",") + h.get<std::string>();
        std::string replicas;
        for (const auto& h : c["read_hosts"]) replicas += (replicas.empty() ? "" : ",") + h.get<std::string>();
        std::string options;
        for (const auto& [k, v] : c["options"].items()) options += (options.empty() ? "" : " ") + k + "=" + v.get<std::string>();
        const std::string user = c["username"].get<std::string>() + (c["password"].get<std::string>().empty() ? "" : ":***");
        rows.push_back({c["name"], c["engine"], hosts.empty() ? c["database"].get<std::string>() : hosts + "/" + c["database"].get<std::string>(),
                        user, replicas, options, c["migrations"]});
      }
      print_grid(std::cout, {"connection", "engine", "where", "user", "read_hosts", "options", "migrations"}, rows);
      for (const auto& g : j["shard_groups"]) {
        std::string members;
        for (const auto& m : g["members"]) members += (members.empty() ? "" : ", ") + m.get<std::string>();
        std::cout << "shard group " << g["name"].get<std::string>() << ": " << g["strategy"].get<std::string>() << " on "
                  << g["key"].get<std::string>() << " over " << members << "\n";
      }
      return kOk;
    }
    if (*console) {
      auto db = open_config(common.config);
      const auto& cfg = db.connection(console_conn).config();
      const auto cmd = db.engines().get(cfg.driver).console(cfg, cfg.hosts.empty() ? nullptr : &cfg.hosts.front());
      if (!cmd) throw plexus::UsageError("engine " + cfg.driver + " of connection '" + cfg.name + "' has no console client");
      if (console_print) {
        for (const auto& [k, v] : cmd->env) std::cout << k << "=*** ";
        for (const auto& a : cmd->argv) std::cout << a << " ";
        std::cout << "\n";
        return kOk;
      }
      // The password travels in the environment, never on the command line (ps would show it).
      for (const auto& [k, v] : cmd->env) ::setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : cmd->argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      throw plexus::UsageError("cannot run " + cmd->argv[0] + " for connection '" + cfg.name + "': install the " +
                               cmd->package + " package");
    }
    if (*completion) {
      std::string commands;
      for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        commands += (commands.empty() ? "" : " ") + sub->get_name();
      std::cout << "# bash completion for plexus: source <(plexus completion bash)\n"
                   "_plexus() {\n"
                   "  local cur=${COMP_WORDS[COMP_CWORD]}\n"
                   "  if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
                   "    COMPREPLY=($(compgen -W \"" << commands << " --help --version\" -- \"$cur\"))\n"
                   "  else\n"
                   "    COMPREPLY=($(compgen -W \"--config --json --connection --help\" -f -- \"$cur\"))\n"
                   "  fi\n"
                   "}\n"
                   "complete -F _plexus plexus\n";
      return kOk;
    }
    if (*metrics) {
      auto db = open_config(common.config);
      bool all_up = true;
      for (const auto& h : db.health()) all_up = all_up && h.status() == "healthy";
      const auto m = db.metrics();
      if (common.json) std::cout << dump(to_json(m)) << "\n";
      else std::cout << m.to_prometheus();
      return all_up ? kOk : kDatabase;
    }
    if (*db_show) {
      auto db = open_config(common.config);
      const auto tables = plexus::list_tables(db, db_conn);
      if (common.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& t : tables)
          list.push_back({{"name", t.name}, {"rows", t.rows ? nlohmann::json(*t.rows) : nlohmann::json()},
                          {"rows_exact", t.rows_exact}, {"bytes", t.bytes ? nlohmann::json(*t.bytes) : nlohmann::json()}});
        std::cout << dump(nlohmann::json{{"connection", db_conn}, {"engine", db.connection(db_conn).type()}, {"tables", list}})
                  << "\n";
        return kOk;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& t : tables)
        rows.push_back({t.name, t.rows ? (t.rows_exact ? "" : "~") + std::to_string(*t.rows) : "?",
                        t.bytes ? human_bytes(*t.bytes) : "?"});
      std::cout << db_conn << " (" << db.connection(db_conn).type() << "): " << tables.size() << " tables\n";
      if (!rows.empty()) print_grid(std::cout, {"table", "rows", "size"}, rows);
      return kOk;
    }
    if (*db_table_cmd) {
      auto db = open_config(common.config);
      const auto d = plexus::describe_table(db, db_conn, db_table);
      if (common.json) {
        nlohmann::json cols = nlohmann::json::array(), idx = nlohmann::json::array();
        for (const auto& c : d.columns)
          cols.push_back({{"name", c.name}, {"type", c.type}, {"nullable", c.nullable},
                          {"default", c.default_value ? nlohmann::json(*c.default_value) : nlohmann::json()},
                          {"primary_key", c.primary_key}});
        for (const auto& i : d.indexes)
          idx.push_back({{"name", i.name}, {"columns", i.columns}, {"unique", i.unique}, {"primary", i.primary}});
        std::cout << dump(nlohmann::json{{"connection", d.connection}, {"table", d.table}, {"columns", cols}, {"indexes", idx}})
                  << "\n";
        return kOk;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : d.columns)
        rows.push_back({c.name, c.type, c.nullable ? "null" : "not null", c.default_value.value_or(""), c.primary_key ? "primary key" : ""});
      std::cout << d.connection << "." << d.table << "\n";
      print_grid(std::cout, {"column", "type", "null", "default", "key"}, rows);
      rows.clear();
      for (const auto& i : d.indexes)
        rows.push_back({i.name, i.columns, i.primary ? "primary" : i.unique ? "unique" : ""});
      if (rows.empty()) std::cout << "no indexes\n";
      else print_grid(std::cout, {"index", "columns", "kind"}, rows);
      return kOk;
    }
    return std::nullopt;
  }

 private:
  CLI::App* demo = nullptr;
  std::string demo_dir = "var/demo";
  CLI::App* health = nullptr;
  std::string health_conn;
  CLI::App* metrics = nullptr;
  CLI::App* config_cmd = nullptr;
  CLI::App* console = nullptr;
  std::string console_conn;
  bool console_print = false;
  CLI::App* completion = nullptr;
  std::string completion_shell = "bash";
  CLI::App* db_cmd = nullptr;
  CLI::App* db_show = nullptr;
  std::string db_conn, db_table;
  CLI::App* db_table_cmd = nullptr;
};

}  // namespace

std::unique_ptr<Command> add_inspect(CLI::App& app, Common& common) { return std::make_unique<Inspect>(app, common); }

}  // namespace plexus::cli

// The plexus command. Exit codes scripts can rely on: 0 ok, 1 a database
// said no (or is down), 2 a usage or configuration error.
#include <unistd.h>

#include <charconv>
#include <limits>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <optional>

#include <CLI/CLI.hpp>

#include "demo.hpp"
#include "output.hpp"
#include "plexus/plexus.hpp"

#ifndef PLEXUS_VERSION
#define PLEXUS_VERSION "unknown"
#endif

namespace {

constexpr int kOk = 0, kDatabase = 1, kUsage = 2;

struct Common {
  std::string config = "config/database.toml";
  bool json = false;
};

void add_common(CLI::App* cmd, Common& c, bool reading) {
  cmd->add_option("-c,--config", c.config, "Configuration file")->capture_default_str();
  if (reading) cmd->add_flag("--json", c.json, "Print JSON (errors too)");
}

plexus::Database open_config(const std::string& path, const std::string& coordinator = {}) {
  plexus::Env env = plexus::Env::system();
  env.load_dotenv(".env");
  auto cfg = plexus::DatabaseConfig::from_toml_file(path, env);
  if (!coordinator.empty()) cfg.transactions.coordinator = coordinator;
  return plexus::Database(std::move(cfg));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= s.size()) {
    const auto comma = std::min(s.find(',', from), s.size());
    if (comma > from) out.push_back(s.substr(from, comma - from));
    from = comma + 1;
  }
  return out;
}

/// Whether `s` is plainly a decimal number: an optional '-', digits, and
/// for a real a '.' with digits and/or an exponent. Nothing else (no '+',
/// spaces, hex, "inf" or "nan") reads as a number.
bool plain_decimal(std::string_view s, bool& real) {
  std::size_t i = s.starts_with('-') ? 1 : 0;
  const auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (!digits()) return false;
  real = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
    real = true;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!digits()) return false;
    real = true;
  }
  return i == s.size();
}

/// A --param value as the Value it reads as: null, true/false, a plainly
/// decimal integer or real, else text. A prefix says the type outright:
/// text:, int:, real:, bool: (docs/cli.md).
plexus::Value param_value(const std::string& s) {
  const auto refuse = [&](const char* type) -> plexus::Value {
    throw plexus::UsageError("-p '" + s + "' is not " + type + "; write it plainly (int:42, real:2.5, bool:true) or as text:…");
  };
  if (s.starts_with("text:")) return plexus::Value(s.substr(5));
  if (s.starts_with("int:")) {
    bool real = false;
    std::int64_t v = 0;
    const auto body = std::string_view(s).substr(4);
    const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
    if (!plain_decimal(body, real) || real || ec != std::errc() || end != body.data() + body.size())
      return refuse("a 64-bit integer");
    return plexus::Value(v);
  }
  if (s.starts_with("real:")) {
    const std::string body = s.substr(5);
    bool real = false;
    if (body == "inf" || body == "Infinity") return plexus::Value(std::numeric_limits<double>::infinity());
    if (body == "-inf" || body == "-Infinity") return plexus::Value(-std::numeric_limits<double>::infinity());
    if (body == "nan" || body == "NaN") return plexus::Value(std::numeric_limits<double>::quiet_NaN());
    if (!plain_decimal(body, real)) return refuse("a decimal number");
    return plexus::Value(std::strtod(body.c_str(), nullptr));
  }
  if (s.starts_with("bool:")) {
    if (s == "bool:true") return plexus::Value(true);
    if (s == "bool:false") return plexus::Value(false);
    return refuse("true or false");
  }
  if (s == "null" || s == "NULL") return {};
  if (s == "true") return plexus::Value(true);
  if (s == "false") return plexus::Value(false);
  bool real = false;
  if (!plain_decimal(s, real)) return plexus::Value(s);
  if (!real) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return plexus::Value(v);
    return plexus::Value(s);  // beyond 64 bits: its exact text
  }
  return plexus::Value(std::strtod(s.c_str(), nullptr));
}

std::string read_sql(const std::string& sql, const std::string& file) {
  if (file.empty()) return sql;
  if (file == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(file, std::ios::binary);
  if (!in) throw plexus::UsageError("cannot read the SQL file '" + file + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int report(const plexus::Error& e, bool json) {
  if (json) std::cerr << plexus::cli::dump(plexus::cli::to_json(e)) << "\n";
  else std::cerr << e.what() << "\n";
  return e.kind() == plexus::ErrorKind::config || e.kind() == plexus::ErrorKind::usage ? kUsage : kDatabase;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plexus: many databases at once"};
  app.set_version_flag("--version", std::string("plexus ") + PLEXUS_VERSION);
  app.require_subcommand(1);
  Common common;

  auto* demo = app.add_subcommand("demo", "Two SQLite databases, each table bound to its own connection");
  std::string demo_dir = "var/demo";
  demo->add_option("--dir", demo_dir, "Where to create the demo databases")->capture_default_str();

  auto* health = app.add_subcommand("health", "Ping every configured connection and host (exit 1 unless all answer)");
  add_common(health, common, true);
  std::string health_conn;
  health->add_option("--connection", health_conn, "Only this connection");

  auto* metrics = app.add_subcommand(
      "metrics", "Ping every host, then print the metrics in the Prometheus text format (exit 1 unless all answer)");
  add_common(metrics, common, true);

  auto* config_cmd = app.add_subcommand("config", "The resolved configuration (engines, hosts, options, groups), secrets masked");
  add_common(config_cmd, common, true);

  auto* console = app.add_subcommand("console", "Open the engine's own client (psql, mariadb, sqlite3) on a connection");
  add_common(console, common, false);
  std::string console_conn;
  bool console_print = false;
  std::string conn_opt;  // --connection, for the commands whose first argument is the connection
  console->add_option("connection", console_conn, "Connection name (or --connection)");
  console->add_option("--connection", conn_opt, "The connection (instead of the first argument)");
  console->add_flag("--print", console_print, "Print the command (and the names of the variables it sets) instead of running it");

  auto* completion = app.add_subcommand("completion", "Print a bash completion script: source <(plexus completion bash)");
  std::string completion_shell = "bash";
  completion->add_option("shell", completion_shell, "Only bash for now")->check(CLI::IsMember({"bash"}));

  auto* db_cmd = app.add_subcommand("db", "What a connection holds: db show CONN (tables), db table CONN TABLE (columns, indexes)");
  db_cmd->require_subcommand(1);
  auto* db_show = db_cmd->add_subcommand("show", "A connection's tables with row estimates and sizes");
  add_common(db_show, common, true);
  std::string db_conn, db_table;
  db_show->add_option("connection", db_conn, "Connection name (or --connection)");
  db_show->add_option("--connection", conn_opt, "The connection (instead of the first argument)");
  auto* db_table_cmd = db_cmd->add_subcommand("table", "A table's columns, types, defaults and indexes");
  add_common(db_table_cmd, common, true);
  db_table_cmd->add_option("connection", db_conn, "Connection name (or --connection)");
  db_table_cmd->add_option("table", db_table, "Table name");
  db_table_cmd->add_option("--connection", conn_opt, "The connection (instead of the first argument)");

  auto* query = app.add_subcommand("query", "Run one SQL statement on a named connection");
  std::string conn_name, sql, sql_file;
  std::vector<std::string> params;
  bool read = false;
  query->add_option("connection", conn_name, "Connection name (or --connection)");
  query->add_option("--connection", conn_opt, "The connection (instead of the first argument)");
  query->add_option("sql", sql, "SQL to run (or --file)");
  query->add_option("-f,--file", sql_file, "Read the SQL from a file ('-' for standard input)");
  query->add_option("-p,--param", params,
                    "A value to bind, in order (repeat it): null, true, false, a number, else text; 'text:…' forces text");
  query->add_flag("--read", read, "The statement only reads (may go to a replica)");
  add_common(query, common, true);

  auto* tx = app.add_subcommand("tx", "Global transactions (two-phase commit): what waits, and recovery");
  tx->require_subcommand(1);
  auto* pending = tx->add_subcommand("pending", "Prepared branches waiting on every connection that can prepare");
  add_common(pending, common, true);
  auto* recover = tx->add_subcommand(
      "recover", "Commit or roll back what a crash left prepared (this coordinator's, or every one's with --all)");
  add_common(recover, common, true);
  std::string coordinator;
  bool all_coordinators = false;
  std::string min_age = "300";
  recover->add_option("--coordinator", coordinator,
                      "Recover as this coordinator (an instance that is gone); default: transactions.coordinator");
  recover->add_flag("--all", all_coordinators, "Also resolve other coordinators' branches older than --min-age");
  recover->add_option("--min-age", min_age, "With --all: leave branches younger than this many seconds")
      ->capture_default_str();

  auto* copy = app.add_subcommand("copy", "Copy (or move) rows from one connection to another, in batches");
  add_common(copy, common, true);
  std::string from, to, table, copy_query, into, key, on_conflict = "fail";
  std::vector<std::string> copy_params;
  std::size_t batch = 1000;
  bool verify = false, move = false;
  copy->add_option("--from", from, "Source connection")->required();
  copy->add_option("--to", to, "Target connection")->required();
  copy->add_option("--table", table, "Source table (all of its rows)");
  copy->add_option("--query", copy_query, "Or a SELECT whose column names are the target's");
  copy->add_option("-p,--param", copy_params, "A value for the query's placeholders (repeat it)");
  copy->add_option("--into", into, "Target table (default: the source table's name)");
  copy->add_option("--key", key, "Key columns, comma-separated (needed by update, skip, --verify and --move)");
  copy->add_option("--on-conflict", on_conflict, "A row whose key is already there: fail, update or skip")
      ->capture_default_str()
      ->check(CLI::IsMember({"fail", "update", "skip"}));
  copy->add_option("--batch", batch, "Rows per batch")->capture_default_str()->check(CLI::PositiveNumber);
  copy->add_flag("--verify", verify, "Read the rows back and compare counts and checksums (exit 1 if they differ)");
  copy->add_flag("--move", move, "Delete each batch at the source in the same two-phase commit");

  auto* shards = app.add_subcommand("shards", "Shard groups: members, strategy, key, and rows per member of a table");
  add_common(shards, common, true);
  std::string shards_table;
  shards->add_option("--table", shards_table, "Count this table's rows on every member");

  auto* route = app.add_subcommand("route", "Where a query on a shard group would go and what each member receives (runs nothing)");
  add_common(route, common, true);
  std::string route_group, route_sql, route_key;
  std::vector<std::string> route_params;
  route->add_option("group", route_group, "Shard group name")->required();
  route->add_option("sql", route_sql, "SQL to preview")->required();
  route->add_option("-p,--param", route_params, "A value to bind, in order (repeat it)");
  route->add_option("--key", route_key, "The shard key the query is for: it goes to that key's member as written");

  // ---- migrations ----
  auto* migrate = app.add_subcommand(
      "migrate", "Apply pending migrations on one connection, every configured one (default), or a shard group's members");
  add_common(migrate, common, true);
  std::string mig_conn, mig_shards;
  bool mig_all = false, mig_dry = false, mig_force = false;
  long long mig_to = 0;
  std::size_t mig_parallel = 4;
  migrate->add_option("--connection", mig_conn, "Only this connection");
  migrate->add_flag("--all", mig_all, "Every connection with a migrations folder (the default)");
  migrate->add_option("--shards", mig_shards, "Every member of this shard group");
  migrate->add_option("--to", mig_to, "Stop at this version")->check(CLI::PositiveNumber);
  migrate->add_flag("--dry-run", mig_dry, "Print the SQL each target would run, run nothing");
  migrate->add_flag("--force", mig_force, "Go on although an applied file was edited or deleted");
  migrate->add_option("--parallel", mig_parallel, "Targets migrated at once")->capture_default_str()->check(CLI::PositiveNumber);
  auto* rollback = app.add_subcommand("rollback", "Revert the last migration(s) of a connection with their down files");
  add_common(rollback, common, true);
  unsigned rb_steps = 1;
  rollback->add_option("--connection", mig_conn, "The connection")->required();
  rollback->add_option("--step", rb_steps, "How many migrations to revert")->capture_default_str()->check(CLI::PositiveNumber);
  rollback->add_flag("--dry-run", mig_dry, "Print the SQL, run nothing");
  auto* status = app.add_subcommand("status", "Which migrations are applied, pending, edited or missing, per connection");
  add_common(status, common, true);
  status->add_option("--connection", mig_conn, "Only this connection (default: every one with a migrations folder)");
  auto* make = app.add_subcommand("make", "Create the next NNNN_name.up.sql / .down.sql of a connection");
  add_common(make, common, false);
  std::string make_name;
  make->add_option("name", make_name, "What the migration does, e.g. add_email_to_users")->required();
  make->add_option("--connection", mig_conn, "The connection")->required();

  auto* reshard = app.add_subcommand(
      "reshard", "Move a table's rows from one shard layout to another (a group with a member added or removed)");
  add_common(reshard, common, true);
  std::string reshard_from, reshard_to, reshard_table, reshard_key;
  std::size_t reshard_batch = 1000;
  bool dry_run = false;
  reshard->add_option("--from", reshard_from, "The group describing where rows are now")->required();
  reshard->add_option("--to", reshard_to, "The group describing where they belong")->required();
  reshard->add_option("--table", reshard_table, "The table to move")->required();
  reshard->add_option("--key", reshard_key, "Columns identifying a row, comma-separated (default: the shard key)");
  reshard->add_option("--batch", reshard_batch, "Rows per atomic step")->capture_default_str()->check(CLI::PositiveNumber);
  reshard->add_flag("--dry-run", dry_run, "Print the plan (which rows move where) and move nothing");

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

  // `query CONN SQL` or `query --connection CONN SQL`: with the option, the
  // arguments shift one place right (the first one given is the SQL).
  auto take_connection = [&](const char* command, std::vector<std::string*> args, bool last_required) {
    if (!conn_opt.empty()) {
      if (!args.back()->empty())
        throw plexus::UsageError(std::string(command) + ": the connection is given twice ('" + *args.front() + "' and --connection " +
                                 conn_opt + ")");
      for (std::size_t i = args.size() - 1; i > 0; --i) *args[i] = *args[i - 1];
      *args.front() = conn_opt;
    }
    if (args.front()->empty())
      throw plexus::UsageError(std::string(command) + ": name a connection (plexus " + command +
                               " CONN …, or --connection CONN)");
    if (last_required && args.back()->empty())
      throw plexus::UsageError(std::string(command) + ": missing argument (see plexus " + command + " --help)");
  };

  try {
    if (*console) take_connection("console", {&console_conn}, false);
    if (*db_show) take_connection("db show", {&db_conn}, false);
    if (*db_table_cmd) take_connection("db table", {&db_conn, &db_table}, true);
    if (*query) take_connection("query", sql_file.empty() ? std::vector<std::string*>{&conn_name, &sql} : std::vector<std::string*>{&conn_name}, false);
    if (*demo) {
      std::error_code ec;
      std::filesystem::create_directories(demo_dir, ec);
      if (ec || !std::filesystem::is_directory(demo_dir))
        throw plexus::UsageError("demo: cannot create the folder '" + demo_dir + "' (" +
                                 (ec ? ec.message() : std::string("not a folder")) + "); pass another one with --dir");
      return plexus::cli::run_demo(std::cout, demo_dir);
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
        for (const auto& h : all) j.push_back(plexus::cli::to_json(h));
        std::cout << plexus::cli::dump(nlohmann::json{{"status", overall}, {"connections", j}}) << "\n";
      } else {
        plexus::cli::print_health(std::cout, all);
      }
      return overall == "healthy" ? kOk : kDatabase;
    }
    if (*config_cmd) {
      auto db = open_config(common.config);
      const auto j = plexus::cli::config_json(db);
      if (common.json) {
        std::cout << plexus::cli::dump(j) << "\n";
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
      plexus::cli::print_grid(std::cout, {"connection", "engine", "where", "user", "read_hosts", "options", "migrations"}, rows);
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
      if (common.json) std::cout << plexus::cli::dump(plexus::cli::to_json(m)) << "\n";
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
        std::cout << plexus::cli::dump(nlohmann::json{{"connection", db_conn}, {"engine", db.connection(db_conn).type()}, {"tables", list}})
                  << "\n";
        return kOk;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& t : tables)
        rows.push_back({t.name, t.rows ? (t.rows_exact ? "" : "~") + std::to_string(*t.rows) : "?",
                        t.bytes ? plexus::cli::human_bytes(*t.bytes) : "?"});
      std::cout << db_conn << " (" << db.connection(db_conn).type() << "): " << tables.size() << " tables\n";
      if (!rows.empty()) plexus::cli::print_grid(std::cout, {"table", "rows", "size"}, rows);
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
        std::cout << plexus::cli::dump(nlohmann::json{{"connection", d.connection}, {"table", d.table}, {"columns", cols}, {"indexes", idx}})
                  << "\n";
        return kOk;
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : d.columns)
        rows.push_back({c.name, c.type, c.nullable ? "null" : "not null", c.default_value.value_or(""), c.primary_key ? "primary key" : ""});
      std::cout << d.connection << "." << d.table << "\n";
      plexus::cli::print_grid(std::cout, {"column", "type", "null", "default", "key"}, rows);
      rows.clear();
      for (const auto& i : d.indexes)
        rows.push_back({i.name, i.columns, i.primary ? "primary" : i.unique ? "unique" : ""});
      if (rows.empty()) std::cout << "no indexes\n";
      else plexus::cli::print_grid(std::cout, {"index", "columns", "kind"}, rows);
      return kOk;
    }
    if (*query) {
      const std::string text = read_sql(sql, sql_file);
      if (text.empty()) throw plexus::UsageError("no SQL given: pass it as an argument or with --file");
      std::vector<plexus::Value> values;
      for (const auto& p : params) values.push_back(param_value(p));
      auto db = open_config(common.config);
      auto r = db.connection(conn_name).query(text, values, read ? plexus::Intent::read : plexus::Intent::write);
      if (common.json) std::cout << plexus::cli::dump(plexus::cli::to_json(r)) << "\n";
      else plexus::cli::print_table(std::cout, r);
      return kOk;
    }
    if (*pending) {
      auto db = open_config(common.config);
      const auto found = db.pending_transactions();
      if (common.json) {
        std::cout << plexus::cli::dump(plexus::cli::to_json(found)) << "\n";
      } else {
        plexus::cli::print_pending(std::cout, found);
      }
      return found.unreachable.empty() ? kOk : kDatabase;
    }
    if (*recover) {
      auto db = open_config(common.config, coordinator);
      plexus::RecoverOptions opts;
      opts.all_coordinators = all_coordinators;
      // Read here, not by CLI11, so that a wrong value is named without being echoed back at length.
      constexpr long long kTenYears = 10LL * 365 * 24 * 3600;
      long long seconds = -1;
      const auto [end, ec] = std::from_chars(min_age.data(), min_age.data() + min_age.size(), seconds);
      if (ec != std::errc() || end != min_age.data() + min_age.size() || seconds < 0 || seconds > kTenYears)
        throw plexus::UsageError("tx recover: --min-age must be a whole number of seconds from 0 to " +
                                 std::to_string(kTenYears) + " (ten years)");
      opts.min_age = std::chrono::seconds(seconds);
      const auto done = db.recover(opts);
      if (common.json) std::cout << plexus::cli::dump(plexus::cli::to_json(done, db.coordinator_id())) << "\n";
      else plexus::cli::print_recovery(std::cout, done, db.coordinator_id());
      return done.unreachable.empty() ? kOk : kDatabase;
    }
    if (*shards) {
      if (!shards_table.empty()) (void)plexus::check_name(shards_table);  // a usage error before anything opens
      auto db = open_config(common.config);
      nlohmann::json groups = nlohmann::json::array();
      std::vector<std::vector<std::string>> rows;
      bool all_answered = true;
      for (const auto& g : db.config().shard_groups) {
        auto& group = db.shards(g.name);
        nlohmann::json members = nlohmann::json::array();
        for (std::size_t i = 0; i < group.size(); ++i) {
          nlohmann::json m{{"index", i}, {"connection", group.member_names()[i]}};
          std::string count = "";
          if (!shards_table.empty()) {
            try {
              const auto n = group.member(i).table(shards_table).count();
              m["rows"] = n;
              count = std::to_string(n);
            } catch (const plexus::Error& e) {
              all_answered = false;
              m["error"] = e.what();
              count = "error: " + e.message();
            }
          }
          members.push_back(m);
          rows.push_back({i == 0 ? g.name : "", i == 0 ? group.strategy() : "", i == 0 ? group.key() : "",
                          std::to_string(i) + " " + group.member_names()[i], count});
        }
        groups.push_back({{"name", g.name}, {"strategy", group.strategy()}, {"key", group.key()}, {"members", members}});
      }
      if (common.json) std::cout << plexus::cli::dump(nlohmann::json{{"groups", groups}}) << "\n";
      else if (rows.empty()) std::cout << "no shard groups configured (add [shards.NAME] sections)\n";
      else plexus::cli::print_grid(std::cout, {"group", "strategy", "key", "member", shards_table.empty() ? "" : "rows in " + shards_table}, rows);
      return all_answered ? kOk : kDatabase;
    }
    if (*route) {
      auto db = open_config(common.config);
      auto& group = db.shards(route_group);
      std::vector<plexus::Value> values;
      for (const auto& p : route_params) values.push_back(param_value(p));
      plexus::RoutePlan plan;
      if (!route_key.empty()) {
        const plexus::Value k = param_value(route_key);
        const std::size_t i = group.index_of(k);
        auto& member = group.member(i);
        plan.group = group.name();
        plan.route = "one shard (" + (group.key().empty() ? std::string("key") : group.key()) + " = " + k.to_string() + ")";
        plan.merge = "none: the one shard's rows as they come";
        const auto& c = member.config();
        plan.targets.push_back({i, member.name(), c.hosts.empty() ? c.database : c.hosts.front().to_string(),
                                plexus::Query{route_sql, values}});
      } else {
        plan = group.preview(route_sql, values);
      }
      if (common.json) std::cout << plan.to_json() << "\n";
      else std::cout << plan.to_string();
      return plan.exact() ? kOk : kUsage;
    }
    if (*migrate) {
      auto db = open_config(common.config);
      plexus::Migrator migrator(db);
      std::vector<std::string> targets;
      if (!mig_conn.empty()) targets = {mig_conn};
      else if (!mig_shards.empty()) targets = db.shards(mig_shards).member_names();
      else targets = migrator.configured();
      if (targets.empty())
        throw plexus::ConfigError("no connection has a migrations folder: set `migrations = \"path\"` on one");
      plexus::MigrateOptions opts;
      if (mig_to > 0) opts.to = mig_to;
      opts.dry_run = mig_dry;
      opts.force = mig_force;
      const bool terminal = ::isatty(STDERR_FILENO) != 0 && !common.json && !mig_dry;
      std::mutex progress_mutex;
      std::size_t finished = 0;
      if (terminal)
        opts.progress = [&](const std::string& conn, const std::string& what) {
          std::lock_guard lock(progress_mutex);
          if (what == "done" || what == "failed" || what == "untouched") ++finished;
          const std::size_t width = 24, filled = targets.empty() ? width : width * finished / targets.size();
          std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << finished << "/"
                    << targets.size() << " " << conn << ": " << what << "\x1b[K" << std::flush;
        };
      const auto report = migrator.migrate_all(targets, opts, mig_parallel);
      if (terminal) std::cerr << "\n";
      if (common.json) {
        std::cout << plexus::cli::dump(plexus::cli::to_json(report)) << "\n";
      } else if (mig_dry) {
        for (const auto& t : report.targets) {
          std::cout << "-- connection " << t.connection << " (at version " << t.version << ")\n";
          if (!t.error.empty()) std::cout << "-- " << t.error << "\n";
          for (const auto& s : t.sql) std::cout << s << "\n";
          if (t.sql.empty() && t.error.empty()) std::cout << "-- nothing to apply\n";
        }
      } else {
        std::cout << report.to_string();
      }
      return report.ok() ? kOk : kDatabase;
    }
    if (*rollback) {
      auto db = open_config(common.config);
      plexus::MigrateOptions opts;
      opts.dry_run = mig_dry;
      const auto t = plexus::Migrator(db).rollback(mig_conn, rb_steps, opts);
      plexus::MigrationReport report;
      report.targets.push_back(t);
      if (common.json) std::cout << plexus::cli::dump(plexus::cli::to_json(report)) << "\n";
      else if (mig_dry) {
        std::cout << "-- connection " << t.connection << " (at version " << t.version << ")\n";
        if (!t.error.empty()) std::cout << "-- " << t.error << "\n";
        for (const auto& s : t.sql) std::cout << s << "\n";
        if (t.sql.empty() && t.error.empty()) std::cout << "-- nothing to roll back\n";
      } else {
        std::cout << report.to_string();
      }
      if (!t.error.empty()) std::cerr << "rollback of connection '" << t.connection << "': " << t.error << "\n";
      return report.ok() ? kOk : kDatabase;
    }
    if (*status) {
      auto db = open_config(common.config);
      plexus::Migrator migrator(db);
      const auto targets = mig_conn.empty() ? migrator.configured() : std::vector<std::string>{mig_conn};
      if (targets.empty())
        throw plexus::ConfigError("no connection has a migrations folder: set `migrations = \"path\"` on one");
      nlohmann::json all = nlohmann::json::array();
      std::vector<std::vector<std::string>> rows;
      bool answered = true;
      for (const auto& name : targets) {
        nlohmann::json list = nlohmann::json::array();
        try {
          for (const auto& s : migrator.status(name)) {
            const std::string state = s.file_missing ? "applied, file missing"
                                      : s.changed    ? "applied, file edited since"
                                      : s.applied    ? "applied"
                                                     : "pending";
            list.push_back({{"version", s.version}, {"name", s.name}, {"state", state}, {"applied_at", s.applied_at}});
            rows.push_back({name, plexus::MigrationFile{s.version, s.name, {}, {}, {}}.label(), state, s.applied_at});
          }
          all.push_back({{"connection", name}, {"migrations", list}});
        } catch (const plexus::ConfigError&) {
          throw;
        } catch (const plexus::Error& e) {
          answered = false;
          all.push_back({{"connection", name}, {"error", e.what()}});
          rows.push_back({name, "", "error: " + e.message(), ""});
        }
      }
      if (common.json) std::cout << plexus::cli::dump(nlohmann::json{{"connections", all}}) << "\n";
      else plexus::cli::print_grid(std::cout, {"connection", "migration", "state", "applied at"}, rows);
      return answered ? kOk : kDatabase;
    }
    if (*make) {
      auto db = open_config(common.config);
      const auto up = plexus::Migrator(db).make(mig_conn, make_name);
      auto down = up;
      down.replace_filename(up.filename().string().replace(up.filename().string().find(".up.sql"), 7, ".down.sql"));
      std::cout << "created " << up.string() << "\n        " << down.string() << "\n";
      return kOk;
    }
    if (*reshard) {
      auto db = open_config(common.config);
      if (dry_run) {
        const auto plan = plexus::plan_reshard(db, reshard_from, reshard_to, reshard_table);
        std::cout << (common.json ? plan.to_json() + "\n" : plan.to_string());
        return kOk;
      }
      plexus::ReshardOptions opts;
      opts.row_key = split_list(reshard_key);
      opts.batch = reshard_batch;
      const bool terminal = ::isatty(STDERR_FILENO) != 0;
      if (terminal && !common.json)
        opts.progress = [](const plexus::ReshardProgress& p) {
          std::cerr << "\r" << p.from << " -> " << p.to << ": " << p.rows_moved << " of " << p.rows_moving << " rows moved"
                    << std::flush;
        };
      const auto done = plexus::reshard(db, reshard_from, reshard_to, reshard_table, opts);
      if (terminal && !common.json) std::cerr << "\n";
      if (common.json) {
        auto j = nlohmann::json::parse(done.plan.to_json());
        j["rows_moved"] = done.rows_moved;
        std::cout << plexus::cli::dump(j) << "\n";
      } else {
        std::cout << done.plan.to_string() << done.rows_moved << " rows moved\n";
      }
      return kOk;
    }
    if (*copy) {
      plexus::CopySpec spec;
      spec.from = from;
      spec.to = to;
      spec.table = table;
      spec.query = copy_query;
      for (const auto& p : copy_params) spec.params.push_back(param_value(p));
      spec.into = into;
      spec.key = split_list(key);
      spec.on_conflict = on_conflict == "update" ? plexus::OnConflict::update
                         : on_conflict == "skip" ? plexus::OnConflict::skip
                                                 : plexus::OnConflict::fail;
      spec.batch = batch;
      spec.verify = verify;
      const bool terminal = ::isatty(STDERR_FILENO) != 0;
      if (terminal && !common.json)
        spec.progress = [](const plexus::CopyProgress& p) {
          std::cerr << "\r" << p.read << " rows read, " << p.written << " written" << std::flush;
        };
      auto db = open_config(common.config);
      const auto s = move ? plexus::move_rows(db, spec) : plexus::copy_rows(db, spec);
      if (terminal && !common.json) std::cerr << "\n";
      if (common.json) std::cout << plexus::cli::dump(plexus::cli::to_json(s)) << "\n";
      else plexus::cli::print_copy(std::cout, s);
      return !s.verified || s.source_checksum == s.target_checksum ? kOk : kDatabase;
    }
  } catch (const plexus::Error& e) {
    return report(e, common.json);
  } catch (const std::exception& e) {
    std::cerr << "plexus: " << e.what() << "\n";
    return kDatabase;
  }
  return kOk;
}

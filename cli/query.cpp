// The plexus command: query: one statement on a named connection.
#include <iostream>

#include "command.hpp"
#include "output.hpp"

namespace plexus::cli {
namespace {

class QueryCommand final : public Command {
 public:
  QueryCommand(CLI::App& app_, Common& common_) : Command(app_, common_) {
    query = app.add_subcommand("query", "Run one SQL statement on a named connection");
    query->add_option("connection", conn_name, "Connection name (or --connection)");
    query->add_option("--connection", common.connection, "The connection (instead of the first argument)");
    query->add_option("sql", sql, "SQL to run (or --file)");
    query->add_option("-f,--file", sql_file, "Read the SQL from a file ('-' for standard input)");
    query->add_option("-p,--param", params,
                      "A value to bind, in order (repeat it): null, true, false, a number, else text; 'text:…' forces text");
    query->add_flag("--read", read, "The statement only reads (may go to a replica)");
    add_common(query, common, true);

  }

  std::optional<int> run() override {
    if (*query) take_connection(common, "query", sql_file.empty() ? std::vector<std::string*>{&conn_name, &sql} : std::vector<std::string*>{&conn_name}, false);
    if (*query) {
      const std::string text = read_sql(sql, sql_file);
      if (text.empty()) throw plexus::UsageError("no SQL given: pass it as an argument or with --file");
      std::vector<plexus::Value> values;
      for (const auto& p : params) values.push_back(param_value(p));
      auto db = open_config(common.config);
      auto r = db.connection(conn_name).query(text, values, read ? plexus::Intent::read : plexus::Intent::write);
      if (common.json) std::cout << dump(to_json(r)) << "\n";
      else print_table(std::cout, r);
      return kOk;
    }
    return std::nullopt;
  }

 private:
  CLI::App* query = nullptr;
  std::string conn_name, sql, sql_file;
  std::vector<std::string> params;
  bool read = false;
};

}  // namespace

std::unique_ptr<Command> add_query(CLI::App& app, Common& common) { return std::make_unique<QueryCommand>(app, common); }

}  // namespace plexus::cli

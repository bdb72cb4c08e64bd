// The plexus command: shards, route and reshard: shard groups.
#include <unistd.h>

#include <iostream>

#include "command.hpp"
#include "output.hpp"

namespace plexus::cli {
namespace {

class Shards final : public Command {
 public:
  Shards(CLI::App& app_, Common& common_) : Command(app_, common_) {
    shards = app.add_subcommand("shards", "Shard groups: members, strategy, key, and rows per member of a table");
    add_common(shards, common, true);
    shards->add_option("--table", shards_table, "Count this table's rows on every member");

    route = app.add_subcommand("route", "Where a query on a shard group would go and what each member receives (runs nothing)");
    add_common(route, common, true);
    route->add_option("group", route_group, "Shard group name")->required();
    route->add_option("sql", route_sql, "SQL to preview")->required();
    route->add_option("-p,--param", route_params, "A value to bind, in order (repeat it)");
    route->add_option("--key", route_key, "The shard key the query is for: it goes to that key's member as written");

    reshard = app.add_subcommand(
        "reshard", "Move a table's rows from one shard layout to another (a group with a member added or removed)");
    add_common(reshard, common, true);
    reshard->add_option("--from", reshard_from, "The group describing where rows are now");
    reshard->add_option("--to", reshard_to, "The group describing where they belong");
    reshard->add_option("--table", reshard_table, "The table to move");
    reshard->add_option("--key", reshard_key, "Columns identifying a row, comma-separated (default: the shard key)");
    reshard->add_option("--batch", reshard_batch, "Rows per atomic step")->capture_default_str()->check(CLI::PositiveNumber);
    reshard->add_flag("--dry-run", dry_run, "Print the plan (which rows move where) and move nothing");
    reshard->footer(
        "Offline: plexus reshard --from G --to G2 --table T moves rows between layouts that share members.\n"
        "Online (the application keeps serving; the group needs control = \"<connection>\"):\n"
        "  plexus reshard start G --to G2 --tables T[,T2]   copy, capture changes, catch up\n"
        "  plexus reshard status|catch-up|verify|switch|reverse|complete|cancel G");
    // The online workflow, one subcommand per step.
    const std::pair<const char*, const char*> steps[] = {
        {"start", "Start (or resume) an online reshard of a group: copy its tables to the new layout, capture changes"},
        {"status", "Where an online reshard is: state, serving layout, rows copied, changes waiting (--json)"},
        {"catch-up", "Carry the changes recorded since the last time to the new layout"},
        {"verify", "Compare both layouts row by row; exit 1 when they differ"},
        {"switch", "Make the new layout serve the group (writes held for a moment, the old members sealed)"},
        {"reverse", "After a switch: the old layout serves again, with the changes made since carried back"},
        {"complete", "After a switch: remove the change capture and the old members' rows (--keep-source keeps them)"},
        {"cancel", "Before a switch: remove the change capture and the copies"}};
    for (const auto& [name, what] : steps) {
      CLI::App* sub = reshard->add_subcommand(name, what);
      add_common(sub, common, true);
      sub->add_option("group", online_group, "The shard group the application uses")->required();
      if (std::string_view(name) == "start") {
        sub->add_option("--to", reshard_to, "The group describing the new layout (on databases of its own)")->required();
        sub->add_option("--tables", online_tables, "The tables to move, comma-separated (every table the group serves)")->required();
        sub->add_option("--batch", online_batch, "Keys per copy step")->capture_default_str()->check(CLI::PositiveNumber);
      }
      if (std::string_view(name) == "complete") sub->add_flag("--keep-source", keep_source, "Leave the old members' rows in place");
      online.push_back(sub);
    }
  }

  /// plexus reshard STEP GROUP: one step of the online workflow.
  int run_online(CLI::App& step) {
    auto db = open_config(common.config);
    plexus::OnlineReshardOptions opts;
    opts.batch = online_batch;
    const bool terminal = ::isatty(STDERR_FILENO) != 0 && !common.json;
    if (terminal)
      opts.progress = [](const plexus::ReshardStatus& s) {
        std::cerr << "\r" << s.state << ": " << s.rows_copied << " rows copied, " << s.keys_caught_up << " keys caught up"
                  << std::flush;
      };
    plexus::OnlineReshard rs(db, online_group, opts);
    const std::string name = step.get_name();
    auto print = [&](const plexus::ReshardStatus& s) {
      if (terminal) std::cerr << "\n";
      std::cout << (common.json ? s.to_json() + "\n" : s.to_string());
      return kOk;
    };
    if (name == "status") return print(rs.status());
    if (name == "start") return print(rs.start(reshard_to, split_list(online_tables)));
    if (name == "catch-up") {
      const auto n = rs.catch_up();
      if (terminal) std::cerr << "\n";
      if (common.json) std::cout << dump(nlohmann::json{{"keys_caught_up", n}}) << "\n";
      else std::cout << n << " keys caught up\n";
      return kOk;
    }
    if (name == "verify") {
      const auto v = rs.verify();
      std::cout << (common.json ? v.to_json() + "\n" : v.to_string());
      return v.ok() ? kOk : kDatabase;
    }
    if (name == "switch") return print(rs.switch_traffic());
    if (name == "reverse") return print(rs.reverse());
    if (name == "complete") return print(rs.complete(keep_source));
    return print(rs.cancel());
  }

  std::optional<int> run() override {
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
      if (common.json) std::cout << dump(nlohmann::json{{"groups", groups}}) << "\n";
      else if (rows.empty()) std::cout << "no shard groups configured (add [shards.NAME] sections)\n";
      else print_grid(std::cout, {"group", "strategy", "key", "member", shards_table.empty() ? "" : "rows in " + shards_table}, rows);
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
    if (*reshard) {
      for (CLI::App* step : online)
        if (*step) return run_online(*step);
      if (reshard_from.empty() || reshard_to.empty() || reshard_table.empty())
        throw plexus::UsageError("plexus reshard needs --from, --to and --table (an offline reshard), or a step of an "
                                 "online one: start|status|catch-up|verify|switch|reverse|complete|cancel GROUP");
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
        std::cout << dump(j) << "\n";
      } else {
        std::cout << done.plan.to_string() << done.rows_moved << " rows moved\n";
      }
      return kOk;
    }
    return std::nullopt;
  }

 private:
  CLI::App* shards = nullptr;
  std::string shards_table;
  CLI::App* route = nullptr;
  std::string route_group, route_sql, route_key;
  std::vector<std::string> route_params;
  CLI::App* reshard = nullptr;
  std::string reshard_from, reshard_to, reshard_table, reshard_key;
  std::size_t reshard_batch = 1000;
  bool dry_run = false;
  std::vector<CLI::App*> online;
  std::string online_group, online_tables;
  std::size_t online_batch = 500;
  bool keep_source = false;
};

}  // namespace

std::unique_ptr<Command> add_shards(CLI::App& app, Common& common) { return std::make_unique<Shards>(app, common); }

}  // namespace plexus::cli

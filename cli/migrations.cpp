// The plexus command: migrate, rollback, status and make: migrations.
#include <unistd.h>

#include <iostream>
#include <mutex>

#include "command.hpp"
#include "output.hpp"

namespace plexus::cli {
namespace {

class Migrations final : public Command {
 public:
  Migrations(CLI::App& app_, Common& common_) : Command(app_, common_) {
    migrate = app.add_subcommand(
        "migrate", "Apply pending migrations on one connection, every configured one (default), or a shard group's members");
    add_common(migrate, common, true);
    migrate->add_option("--connection", mig_conn, "Only this connection");
    migrate->add_flag("--all", mig_all, "Every connection with a migrations folder (the default)");
    migrate->add_option("--shards", mig_shards, "Every member of this shard group");
    migrate->add_option("--to", mig_to, "Stop at this version")->check(CLI::PositiveNumber);
    migrate->add_flag("--dry-run", mig_dry, "Print the SQL each target would run, run nothing");
    migrate->add_flag("--force", mig_force, "Go on although an applied file was edited or deleted");
    migrate->add_option("--parallel", mig_parallel, "Targets migrated at once")->capture_default_str()->check(CLI::PositiveNumber);
    rollback = app.add_subcommand("rollback", "Revert the last migration(s) of a connection with their down files");
    add_common(rollback, common, true);
    rollback->add_option("--connection", mig_conn, "The connection")->required();
    rollback->add_option("--step", rb_steps, "How many migrations to revert")->capture_default_str()->check(CLI::PositiveNumber);
    rollback->add_flag("--dry-run", mig_dry, "Print the SQL, run nothing");
    status = app.add_subcommand("status", "Which migrations are applied, pending, edited or missing, per connection");
    add_common(status, common, true);
    status->add_option("--connection", mig_conn, "Only this connection (default: every one with a migrations folder)");
    make = app.add_subcommand("make", "Create the next NNNN_name.up.sql / .down.sql of a connection");
    add_common(make, common, false);
    make->add_option("name", make_name, "What the migration does, e.g. add_email_to_users")->required();
    make->add_option("--connection", mig_conn, "The connection")->required();

  }

  std::optional<int> run() override {
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
        std::cout << dump(to_json(report)) << "\n";
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
      if (common.json) std::cout << dump(to_json(report)) << "\n";
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
      if (common.json) std::cout << dump(nlohmann::json{{"connections", all}}) << "\n";
      else print_grid(std::cout, {"connection", "migration", "state", "applied at"}, rows);
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
    return std::nullopt;
  }

 private:
  CLI::App* migrate = nullptr;
  std::string mig_conn, mig_shards;
  bool mig_all = false, mig_dry = false, mig_force = false;
  long long mig_to = 0;
  std::size_t mig_parallel = 4;
  CLI::App* rollback = nullptr;
  unsigned rb_steps = 1;
  CLI::App* status = nullptr;
  CLI::App* make = nullptr;
  std::string make_name;
};

}  // namespace

std::unique_ptr<Command> add_migrations(CLI::App& app, Common& common) { return std::make_unique<Migrations>(app, common); }

}  // namespace plexus::cli

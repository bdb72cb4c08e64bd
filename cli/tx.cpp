// The plexus command: tx pending, tx recover and copy: work across databases.
#include <unistd.h>

#include <charconv>
#include <iostream>

#include "command.hpp"
#include "output.hpp"

namespace plexus::cli {
namespace {

class Transfers final : public Command {
 public:
  Transfers(CLI::App& app_, Common& common_) : Command(app_, common_) {
    tx = app.add_subcommand("tx", "Global transactions (two-phase commit): what waits, and recovery");
    tx->require_subcommand(1);
    pending = tx->add_subcommand("pending", "Prepared branches waiting on every connection that can prepare");
    add_common(pending, common, true);
    recover = tx->add_subcommand(
        "recover", "Commit or roll back what a crash left prepared (this coordinator's, or every one's with --all)");
    add_common(recover, common, true);
    recover->add_option("--coordinator", coordinator,
                        "Recover as this coordinator (an instance that is gone); default: transactions.coordinator");
    recover->add_flag("--all", all_coordinators, "Also resolve other coordinators' branches older than --min-age");
    recover->add_option("--min-age", min_age, "With --all: leave branches younger than this many seconds")
        ->capture_default_str();

    copy = app.add_subcommand("copy", "Copy (or move) rows from one connection to another, in batches");
    add_common(copy, common, true);
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

  }

  std::optional<int> run() override {
    if (*pending) {
      auto db = open_config(common.config);
      const auto found = db.pending_transactions();
      if (common.json) {
        std::cout << dump(to_json(found)) << "\n";
      } else {
        print_pending(std::cout, found);
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
      if (common.json) std::cout << dump(to_json(done, db.coordinator_id())) << "\n";
      else print_recovery(std::cout, done, db.coordinator_id());
      return done.unreachable.empty() ? kOk : kDatabase;
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
      if (common.json) std::cout << dump(to_json(s)) << "\n";
      else print_copy(std::cout, s);
      return !s.verified || s.source_checksum == s.target_checksum ? kOk : kDatabase;
    }
    return std::nullopt;
  }

 private:
  CLI::App* tx = nullptr;
  CLI::App* pending = nullptr;
  CLI::App* recover = nullptr;
  std::string coordinator;
  bool all_coordinators = false;
  std::string min_age = "300";
  CLI::App* copy = nullptr;
  std::string from, to, table, copy_query, into, key, on_conflict = "fail";
  std::vector<std::string> copy_params;
  std::size_t batch = 1000;
  bool verify = false, move = false;
};

}  // namespace

std::unique_ptr<Command> add_tx(CLI::App& app, Common& common) { return std::make_unique<Transfers>(app, common); }

}  // namespace plexus::cli

// Resharding: moving a table's rows from one layout of a shard group to
// another (a member added or removed, another strategy), described as a
// second group over the connections. The plan says which keys move where;
// executing it moves their rows with move_rows (each batch written at the new
// member and deleted at the old one in one two-phase commit), so an
// interrupted reshard loses and duplicates nothing, and running it again
// continues where it stopped (the plan is recomputed from where rows are).
//
//   auto plan = plexus::plan_reshard(db, "users_shards", "users_shards_v2", "users");
//   std::cout << plan.to_string();                  // 4 → 5 members: about 20 % of the rows move
//   plexus::reshard(db, "users_shards", "users_shards_v2", "users");
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace plexus {

class ConnectionRegistry;

struct ReshardStep {
  std::string from;  ///< the connection the rows are on now
  std::string to;    ///< the connection that owns them in the target layout
  std::uint64_t keys = 0;
  std::uint64_t rows = 0;
};

struct ReshardPlan {
  std::string from_group, to_group, table, key;
  std::uint64_t rows_total = 0;   ///< rows of the table on the current members
  std::uint64_t rows_moving = 0;  ///< rows whose key the target layout places elsewhere
  std::vector<ReshardStep> steps;
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::string to_json() const;
};

struct ReshardProgress {
  std::string from, to;
  std::uint64_t rows_moved = 0;  ///< so far, over every step
  std::uint64_t rows_moving = 0;
};

struct ReshardOptions {
  /// Columns that identify a row (its primary key), used to delete moved rows
  /// at the source; default: the group's shard key.
  std::vector<std::string> row_key = {};
  std::size_t batch = 1000;  ///< rows per atomic step
  std::function<void(const ReshardProgress&)> progress = {};
};

struct ReshardReport {
  ReshardPlan plan;               ///< what was found to move when it started
  std::uint64_t rows_moved = 0;
};

/// Which rows of `table` move when the layout of group `from_group` becomes
/// that of `to_group` (two groups over the same key column). Runs only reads.
/// @throws UsageError when the groups differ in key or use a directory.
[[nodiscard]] ReshardPlan plan_reshard(ConnectionRegistry& db, std::string_view from_group, std::string_view to_group,
                                       std::string_view table);
/// Moves them. Safe to interrupt and to run again.
ReshardReport reshard(ConnectionRegistry& db, std::string_view from_group, std::string_view to_group, std::string_view table,
                      const ReshardOptions& opts = {});

// ---- online resharding --------------------------------------------------------
//
// A reshard the application keeps reading and writing through: the rows of
// the group's tables are copied to a second group (the new layout, on other
// databases) while triggers on the old members record every key written;
// the changes are carried over until the switch, which holds the group's
// writes for a moment, seals the old members, carries the last changes and
// records in the control database that the new layout serves the group.
// Every process whose group names that control connection follows it
// (docs/sharding.md, "Online resharding").
//
//   plexus::OnlineReshard rs(db, "users_shards");
//   rs.start("users_shards_v2", {"users"});   // copying → copied
//   auto diff = rs.verify();                    // row by row, like VDiff
//   rs.switch_traffic();                        // switched: the new layout serves
//   rs.complete();                              // removes the triggers and the old rows

/// Where an online reshard of one group is, as its control database records it.
struct ReshardStatus {
  std::string group;     ///< the group the application uses
  std::string to_group;  ///< the layout it moves to
  std::vector<std::string> tables;
  /// "" (none), "copying", "copied", "switching", "switched", "reversing",
  /// "complete" or "cancelled".
  std::string state;
  std::string serving;       ///< the group whose layout serves reads and writes now
  bool writes_held = false;  ///< a switch is holding the group's writes
  std::int64_t version = 0;  ///< moves on at every change of state
  std::uint64_t rows_copied = 0;
  std::uint64_t keys_caught_up = 0;  ///< keys carried over from the change tables so far
  std::uint64_t backlog = 0;         ///< changes recorded and not carried yet (counted now)
  std::int64_t differences = -1;     ///< found by the last verify() (-1: not verified)
  std::int64_t last_pause_ms = -1;   ///< how long the last switch or reverse held writes
  std::string updated;               ///< when the record last changed (UTC, ISO 8601)
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::string to_json() const;
};

/// One key whose rows differ between the layouts.
struct ReshardDifference {
  std::string table;
  std::string key;   ///< the shard key, as text
  std::string what;  ///< "missing on users_5", "2 rows on users_1, 1 on users_5", "column name differs"
};

struct ReshardVerification {
  std::uint64_t keys_compared = 0;
  std::uint64_t rows_compared = 0;
  std::uint64_t in_flight = 0;  ///< keys that differed while a change to them was still to be carried over
  std::vector<ReshardDifference> differences;  ///< at most 100 listed
  std::uint64_t difference_count = 0;
  [[nodiscard]] bool ok() const noexcept { return difference_count == 0; }
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::string to_json() const;
};

struct OnlineReshardOptions {
  std::size_t batch = 500;  ///< keys per copy step (their rows move in one transaction per target member)
  /// How long a runner that stopped keeps another out: every step renews it.
  std::chrono::milliseconds lease{10000};
  /// The switch seals the old members once at most this many changes wait.
  std::size_t switch_backlog = 500;
  std::function<void(const ReshardStatus&)> progress = {};
};

/// Drives the online reshard of one group (its `control` connection must be
/// configured). Each step is safe to run again after an interruption: the
/// state is in the control database, and each step picks up from it. Two
/// runners at once are refused (a lease in the control row).
class OnlineReshard {
 public:
  /// @throws UsageError when the group has no control connection configured.
  OnlineReshard(ConnectionRegistry& db, std::string group, OnlineReshardOptions opts = {});
  ~OnlineReshard();
  OnlineReshard(const OnlineReshard&) = delete;
  OnlineReshard& operator=(const OnlineReshard&) = delete;

  /// What the control database says now (state "" when none was started).
  [[nodiscard]] ReshardStatus status();
  /// Starts (or resumes) moving `tables` to the layout of `to_group`:
  /// checks both layouts (same key; no member shared, also under another
  /// connection name; same migrations; each table on every member), installs
  /// change capture on the old members, copies every key's rows, and carries
  /// the changes made meanwhile once. Ends in state "copied".
  ReshardStatus start(std::string_view to_group, std::vector<std::string> tables);
  /// Carries over the changes recorded since the last time (state "copied").
  /// Returns the number of keys carried.
  std::uint64_t catch_up();
  /// Compares both layouts row by row for every key (after carrying the
  /// changes over); a key that differs while a change to it is still recorded
  /// is in flight, not a difference.
  ReshardVerification verify();
  /// Makes the new layout serve the group: carries changes until the backlog
  /// is small, holds writes, seals the old members, carries the rest, records
  /// the new layout, releases writes. Ends in "switched".
  ReshardStatus switch_traffic();
  /// After a switch: the old layout serves again, with every change made
  /// since the switch carried back. Ends in "copied".
  ReshardStatus reverse();
  /// After a switch: removes the capture on both layouts and (unless
  /// `keep_source`) the moved tables' rows from the old members. Ends in "complete";
  /// the group keeps following the new layout until the configuration lists its members.
  ReshardStatus complete(bool keep_source = false);
  /// Before a switch: removes the capture and the copies. Ends in "cancelled".
  ReshardStatus cancel();

  struct Impl;

 private:
  std::unique_ptr<Impl> m_impl;
};

}  // namespace plexus

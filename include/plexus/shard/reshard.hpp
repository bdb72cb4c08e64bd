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

#include <cstdint>
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

}  // namespace plexus

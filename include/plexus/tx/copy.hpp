// Copying and moving rows between databases (the seed's transferUserData and
// syncUserDataToAnalytics): rows streamed from one connection and written to
// another in batches, whatever the two engines; a move deletes at the source
// in the same atomic step (two-phase commit) as it writes at the target.
//
//   auto s = plexus::copy_rows(db, {.from = "users_db", .table = "users",
//                                   .to = "analytics", .into = "user_snapshot",
//                                   .key = {"id"}, .on_conflict = plexus::OnConflict::update});
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plexus/core/value.hpp"

namespace plexus {

class ConnectionRegistry;

/// What to do with a row whose key the target already has.
enum class OnConflict : std::uint8_t {
  fail,    ///< a constraint error stops the copy (batches before it stay)
  update,  ///< overwrite the target's row (upsert)
  skip,    ///< keep the target's row
};

struct CopyProgress {
  std::uint64_t read = 0;
  std::uint64_t written = 0;
  std::uint64_t skipped = 0;
  std::uint64_t batches = 0;
};

struct CopySpec {
  std::string from = {};                 ///< the source connection
  std::string table = {};                ///< a whole table to copy (SELECT * FROM it) …
  std::string query = {};                ///< … or a SELECT whose column names are the target's columns
  std::vector<Value> params = {};        ///< values for the query's placeholders
  std::string to = {};                   ///< the target connection
  std::string into = {};                 ///< the target table ("" = the same name as `table`)
  std::vector<std::string> key = {};     ///< key columns: needed to update, skip, verify or move
  OnConflict on_conflict = OnConflict::fail;
  std::size_t batch = 1000;         ///< rows per INSERT (and per atomic step of a move)
  bool verify = false;              ///< afterwards, read the written rows back and compare counts and checksums
  std::function<void(const CopyProgress&)> progress = {};  ///< called after each batch
};

struct CopySummary {
  std::uint64_t rows_read = 0;
  std::uint64_t rows_written = 0;
  std::uint64_t rows_skipped = 0;  ///< already at the target (OnConflict::skip)
  std::uint64_t rows_deleted = 0;  ///< removed from the source (move)
  std::uint64_t batches = 0;
  std::chrono::milliseconds elapsed{0};
  /// With verify: rows found back at the target, and an order-independent
  /// checksum of every copied row on each side (equal when the copy is exact).
  bool verified = false;
  std::uint64_t target_rows = 0;
  std::string source_checksum, target_checksum;
};

/// Copies rows from `spec.from` to `spec.to` in batches (memory stays bounded
/// by the batch size). Values keep their types across engines: integers,
/// reals, text, bytes, booleans, dates, times and timestamps (microseconds),
/// NULL; DECIMAL and other exact types travel as their exact text.
/// @throws UsageError for a spec that cannot work (no source, a key needed
///         and missing); the engines' errors otherwise, naming the connection.
CopySummary copy_rows(ConnectionRegistry& db, const CopySpec& spec);

/// Moves rows: each batch is written at the target and deleted at the
/// source in one global transaction (two-phase commit; SQLite may be one of
/// the two as the last resource), so a move stopped at any point leaves every
/// row in exactly one place. Needs `spec.key`.
CopySummary move_rows(ConnectionRegistry& db, const CopySpec& spec);

}  // namespace plexus

// Migrations on every database: each connection's folder of SQL files
// (`NNNN_name.up.sql`, `NNNN_name.down.sql`, optionally per engine:
// `NNNN_name.up.postgres.sql`), a ledger per database with a checksum per
// applied file, a lock that keeps two migrators apart (a row of a table, so it
// holds through pgbouncer in transaction mode), and a fan-out over many
// connections with bounded parallelism. See docs/migrations.md.
//
//   plexus::Migrator migrator(db);
//   auto report = migrator.migrate_all({"users_db", "orders_db"});
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/db/registry.hpp"

namespace plexus {

/// One migration found in a folder.
struct MigrationFile {
  std::int64_t version = 0;
  std::string name;               ///< "create_users"
  std::filesystem::path up;       ///< the file that applies it (the engine's variant when there is one)
  std::filesystem::path down;     ///< the file that reverts it; empty when there is none
  std::string checksum;           ///< of the up file's bytes (16 hex digits)
  [[nodiscard]] std::string label() const;  ///< "0002_create_orders"
};

/// Where a migration stands on one database.
struct MigrationState {
  std::int64_t version = 0;
  std::string name;
  bool applied = false;
  std::string applied_at;    ///< UTC, ISO 8601
  bool changed = false;      ///< applied, and its file was edited since (checksum differs)
  bool file_missing = false; ///< in the ledger, but no file has this version any more
};

struct MigrateOptions {
  /// Apply up to this version (inclusive); nullopt = all.
  std::optional<std::int64_t> to;
  /// Print what would run (per target), run nothing.
  bool dry_run = false;
  /// Go on although an applied file was edited (its new checksum is recorded) or deleted.
  bool force = false;
  /// How long to wait for another migrator's lock on the same database.
  std::chrono::milliseconds lock_wait{30000};
  /// Called before each file runs and when a target ends (from the fan-out's threads).
  std::function<void(const std::string& connection, const std::string& what)> progress;
};

/// What happened on one database.
struct MigrationTarget {
  enum class State : std::uint8_t { done, failed, untouched };
  std::string connection;
  State state = State::untouched;
  std::vector<std::string> applied;  ///< files applied (or reverted, for a rollback), in order
  std::int64_t version = 0;          ///< the version the database is at afterwards
  std::string error;                 ///< why it failed: file, line, engine message, what stayed applied
  std::vector<std::string> sql;      ///< a dry run: the statements, with "-- file" headers
};

/// A fan-out's per-target summary.
struct MigrationReport {
  std::vector<MigrationTarget> targets;
  [[nodiscard]] bool ok() const noexcept;
  [[nodiscard]] std::size_t count(MigrationTarget::State s) const noexcept;
  [[nodiscard]] std::string to_string() const;
};

std::string_view to_string(MigrationTarget::State s) noexcept;

class Migrator {
 public:
  explicit Migrator(ConnectionRegistry& db);

  /// The migrations of a connection (its `migrations` folder), checked: the
  /// folder exists, versions are 1, 2, 3… without gaps or duplicates, names
  /// follow `NNNN_name.up[.engine].sql`.
  /// @throws ConfigError naming the connection, the folder and the problem.
  [[nodiscard]] std::vector<MigrationFile> files(std::string_view connection) const;
  /// Every migration with where it stands on the connection's database.
  [[nodiscard]] std::vector<MigrationState> status(std::string_view connection);
  /// Applies the pending migrations in order, each in a transaction where the
  /// engine has transactional DDL. Stops at the first failure, leaving the
  /// database at the last migration that succeeded. Never throws for a
  /// database error: the target says what failed (configuration and usage
  /// mistakes throw, before anything runs).
  MigrationTarget migrate(std::string_view connection, const MigrateOptions& opts = {});
  /// Reverts the last `steps` applied migrations with their down files.
  MigrationTarget rollback(std::string_view connection, unsigned steps = 1, const MigrateOptions& opts = {});
  /// migrate() on every connection, at most `parallelism` at once; a target
  /// that fails does not stop the others. Re-running continues where each stopped.
  MigrationReport migrate_all(std::span<const std::string> connections, const MigrateOptions& opts = {},
                              std::size_t parallelism = 4);
  /// Creates the next `NNNN_name.up.sql` and `.down.sql` in the connection's
  /// folder (making the folder if needed); returns the up file.
  std::filesystem::path make(std::string_view connection, std::string_view name);

  /// Connections that have a `migrations` folder configured, in order.
  [[nodiscard]] std::vector<std::string> configured() const;

 private:
  ConnectionRegistry& m_db;
};

}  // namespace plexus

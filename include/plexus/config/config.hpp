// Typed configuration: the C++ counterpart of a `database.ts` / `database.php`.
//
// Build it in code, from a TOML file (`config/database.toml`) with ${VAR} and
// ${VAR:-default} interpolation, or from URLs. Secrets are never printed:
// to_string() redacts passwords.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/config/env.hpp"
#include "plexus/core/value.hpp"

namespace plexus {

/// One server address: host + port, or a Unix socket path.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string socket;
  unsigned weight = 1;  ///< for the weighted load-balance strategy
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct PoolConfig {
  std::size_t min = 0;
  std::size_t max = 8;
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
  std::chrono::milliseconds max_lifetime{30 * 60 * 1000};
  /// Connections idle longer than this are pinged before being handed out.
  std::chrono::milliseconds validate_after{30 * 1000};
  /// Warn (on_warning hooks) when a session is held longer than this; 0 = never.
  std::chrono::milliseconds leak_warning{0};
};

/// The keys a connection takes whatever its engine (in TOML and as fields of
/// ConnectionConfig); any other key is an engine option, checked by the engine.
std::span<const std::string_view> connection_keys() noexcept;

/// A named logical database: a primary (write side) and optional replicas.
struct ConnectionConfig {
  std::string name;
  /// The engine, by name or alias ("sqlite", "postgresql", "mariadb", …): the
  /// Database resolves it and Connection::type() reports the canonical name.
  std::string driver;
  /// Write side. Several entries are primary candidates (a standby that may be
  /// promoted, the nodes of a Galera cluster): writes go to the one that
  /// accepts them, found again after a lost connection or a write refused as
  /// read-only; the others serve reads (docs/failover.md).
  std::vector<Endpoint> hosts;
  /// Database name; for SQLite the file path or ":memory:".
  std::string database;
  std::string username;
  std::string password;
  /// Engine options by name (sslmode, connect_timeout, busy_timeout, …), as
  /// text; each engine declares the ones it takes with their types, and the
  /// Database checks them when it is built (docs/engines.md lists them).
  std::map<std::string, std::string> options;
  PoolConfig pool;
  std::vector<Endpoint> read_hosts;
  /// How reads pick a replica: "round_robin", "random", "weighted",
  /// "least_outstanding", or the name of a picker the application registered.
  std::string load_balance = "round_robin";
  /// Read-your-writes: in a UnitOfWork that wrote, reads go to the primary.
  bool sticky = false;
  /// Causal reads: in a UnitOfWork that wrote, reads go to a replica that has
  /// replayed past the write (waiting up to causal_wait), else to the primary.
  bool causal = false;
  std::chrono::milliseconds causal_wait{200};
  /// Replicas measured further behind than this are skipped; 0 = no check.
  std::chrono::milliseconds max_replica_lag{0};
  /// How long a failed replica stays out before it is tried again.
  std::chrono::milliseconds replica_cooldown{2000};
  /// With several hosts: how long a write waits for a primary to appear (a
  /// promotion under way) before failing; 0 = fail at once.
  std::chrono::milliseconds failover_wait{0};
  /// Client-side bound on one statement (and on each row of a cursor): past
  /// it the session is closed and a TimeoutError thrown, even when the server
  /// hangs. 0 = no bound.
  std::chrono::milliseconds query_timeout{0};
  bool read_only = false;
  std::string migrations;
  /// Where it was defined, for error messages: the file ("config/database.toml")
  /// and its section ("connections.app"); empty when built in code.
  std::string source, section;

  /// A readable one-line description with the password replaced by "***".
  [[nodiscard]] std::string to_string() const;
  /// Value of an option, if set.
  [[nodiscard]] std::optional<std::string> option(std::string_view key) const;
  /// How errors name this connection: "config/database.toml: connection 'app'",
  /// or with a key: "config/database.toml: key 'connections.app.busy_timeout'".
  [[nodiscard]] std::string where(std::string_view key = {}) const;
};

/// Parses a connection URL. The scheme names the engine; `scheme:path` (no
/// `//`) is a file, `scheme://` a server:
///   sqlite:path/to/file.db   sqlite::memory:   sqlite:/abs/path.db   sqlite:///abs/path.db
///   postgresql://user:pass@host:5432,host2:5433/db?sslmode=require&application_name=app
///   mysql://user:pass@host:3306/db?ssl=true
/// @throws ConfigError naming the problem (the password is never echoed).
ConnectionConfig parse_url(std::string_view url);
/// The URL with its password replaced by "***".
std::string redact_url(std::string_view url);

/// A flag written as text (an environment variable, a URL query, a TOML
/// string): true/false, 1/0, yes/no, on/off, in any case; nullopt for
/// anything else. The one reading every flag setting goes through.
[[nodiscard]] std::optional<bool> parse_flag(std::string_view text);

/// A SQLite connection to `path` (a file, or ":memory:"); defined by the SQLite engine.
ConnectionConfig sqlite(std::string path);

/// Transactions across connections (two-phase commit) and their recovery.
struct TransactionsConfig {
  /// This instance's id, carried by every global transaction it starts so
  /// recovery knows what it owns: give each application instance its own,
  /// stable across restarts. Letters, digits, _ and -. "" = the host name.
  std::string coordinator;
  /// The connection whose table plexus_tx_log holds commit decisions, so any
  /// process on any machine can recover. "" = the local file below.
  std::string log_connection;
  /// The decision log when no log_connection is set (appended and fsync'd).
  std::string log_file = "plexus-transactions.log";
  /// Run recover() when the Database is built.
  bool recover_on_start = false;
  /// Threads for the phases of a commit across connections (prepares and
  /// commits run in parallel) and other fan-out work.
  std::size_t parallelism = 4;
};

/// One member's share of a range strategy: keys from `from` (inclusive) to
/// `to` (exclusive); a null bound is open. Ranges must not overlap or leave gaps.
struct ShardRange {
  std::string member;
  Value from;
  Value to;
};

/// Where a directory strategy looks keys up: `SELECT member_column FROM table
/// WHERE key_column = ?` on `connection` (answers are cached).
struct ShardDirectory {
  std::string connection;
  std::string table = "plexus_shard_directory";
  std::string key_column = "shard_key";
  std::string member_column = "member";
};

/// Where a sharded table's new ids come from: rows inserted through the group
/// without `column` get one. kind "sequence" (SequenceIds): blocks of `block`
/// ids reserved in `plexus_id_blocks` on `connection`; kind "time" (TimeIds):
/// time-ordered ids under a worker id leased for `lease_s` seconds in
/// `plexus_id_workers` on `connection`.
struct ShardIdsConfig {
  std::string table;
  std::string column = "id";
  std::string connection;  ///< where the control table lives
  std::string kind = "sequence";  ///< "sequence" or "time"
  std::string sequence;    ///< the source's name in its control table ("" = the table's name)
  std::int64_t block = 1000;   ///< kind "sequence" only
  std::int64_t lease_s = 60;   ///< kind "time" only
};

/// A user strategy: the index (0 … members-1) of the member owning `key`.
using ShardFunction = std::function<std::size_t(const Value& key, std::size_t members)>;

/// A shard group: connections that each hold part of the rows, and how a key
/// picks one (docs/sharding.md).
struct ShardGroupConfig {
  std::string name;
  /// Connection names, in order: a key's member index points into this list.
  std::vector<std::string> members;
  /// "modulo" (integer keys: key mod N), "range", "hash" (jump consistent
  /// hashing: adding a member at the end moves about 1/N of the keys),
  /// "directory", or "custom" (`custom` below; from TOML, the name of a
  /// strategy registered in Extensions::shard_strategies).
  std::string strategy = "modulo";
  /// The shard-key column: a builder on the group with `where(key, v)` (or a
  /// row holding it) goes to the one member owning v.
  std::string key;
  std::vector<ShardRange> ranges;  ///< strategy "range"
  ShardDirectory directory;        ///< strategy "directory"
  ShardFunction custom;            ///< strategy "custom"
  /// Most members queried at once by a scatter-gather read (0 = all).
  std::size_t parallelism = 0;
  /// Global ids, per table (ShardGroup::generate_ids made at start).
  std::vector<ShardIdsConfig> ids;
  /// The connection holding `plexus_reshards`, where an online reshard of
  /// this group records which layout serves it ("" = none: the group never
  /// changes layout while the process runs, and cannot be resharded online).
  /// Every process of the application names the same one.
  std::string control;
  /// How often (milliseconds) the group reads its layout from `control`
  /// between statements (a point select, only when that long has passed);
  /// while a switch holds writes, before every statement.
  std::uint32_t watch_ms = 200;
};

struct DatabaseConfig {
  /// Name of the default connection ("" = none chosen).
  std::string default_connection;
  /// Most sessions open at once across every pool of the Database (many
  /// tenants' databases); 0 = no cap. When reached, the least recently used
  /// idle sessions elsewhere are closed to make room.
  std::size_t max_connections = 0;
  std::vector<ConnectionConfig> connections;
  TransactionsConfig transactions;
  std::vector<ShardGroupConfig> shard_groups;

  /// Adds (or replaces) a shard group over configured connections.
  ShardGroupConfig& add_shard_group(std::string name, std::vector<std::string> members, std::string strategy = "modulo");
  [[nodiscard]] const ShardGroupConfig* find_shard_group(std::string_view name) const noexcept;
  /// Adds (or replaces) a connection under `name`; returns it for chaining edits.
  ConnectionConfig& add(std::string name, ConnectionConfig cfg);
  /// Adds a connection from a URL. @throws ConfigError.
  ConnectionConfig& add(std::string name, std::string_view url);
  [[nodiscard]] const ConnectionConfig* find(std::string_view name) const noexcept;
  [[nodiscard]] std::vector<std::string> names() const;
  /// Checks every connection (driver known, required fields present).
  /// @throws ConfigError naming the connection and the problem.
  void validate(std::string_view source = "configuration") const;
  /// Every connection, one a line, passwords shown as "***" (see redact()).
  [[nodiscard]] std::string to_string() const;
  /// Replaces the text of every connection's password (four characters or
  /// more: shorter ones would mask ordinary text) in `text` by "***": defence
  /// in depth for output built from this configuration, where a password may
  /// also be spelled in another field or a connection's name. Returns
  /// whether anything was masked.
  bool redact(std::string& text) const;

  /// Loads a TOML file. `DB_CONNECTION` in `env` overrides the file's `default`.
  /// @throws ConfigError naming the file, the key and the problem.
  static DatabaseConfig from_toml_file(const std::filesystem::path& path, const Env& env = Env::system());
  static DatabaseConfig from_toml_string(std::string_view text, std::string_view source_name,
                                         const Env& env = Env::system());
};

}  // namespace plexus

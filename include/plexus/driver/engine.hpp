// The engine descriptor: everything Plexus knows about one database engine,
// in one object its driver folder provides. Nothing outside src/drivers/
// names an engine; a Database finds engines by name or alias in its
// EngineRegistry (the built-in ones, plus any the application adds).
//
//   class MyEngine final : public plexus::driver::Engine { … };
//   plexus::Database db(cfg, {.engines = {std::make_shared<MyEngine>()}});
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/core/result.hpp"
#include "plexus/driver/driver.hpp"
#include "plexus/driver/engine_registry.hpp"
#include "plexus/driver/grammar.hpp"

namespace plexus::driver {

/// What an engine can do; the layers above ask these instead of its name.
struct Capabilities {
  bool server = true;             ///< has hosts (false: a file engine such as SQLite)
  bool returning = false;         ///< INSERT … RETURNING
  bool pipelining = false;        ///< a batch travels in one round trip
  bool transactional_ddl = false; ///< DDL rolls back; scripts are all or nothing
  bool two_phase_commit = false;  ///< PREPARE TRANSACTION / XA: can join a cross-database commit
  bool replication = false;       ///< replication positions, causal reads, replica lag
  bool savepoints = true;         ///< nested transactions
};

/// One engine option as configured (`busy_timeout = 5000`): its type, default and limits.
struct OptionSpec {
  enum class Type : std::uint8_t {
    flag,          ///< true/false (also 1/0, on/off, yes/no)
    integer,       ///< a whole number in [min, max]
    milliseconds,  ///< whole milliseconds in [min, max] (no units: "5s" is refused)
    seconds,       ///< whole seconds in [min, max]
    text,          ///< any text (empty allowed)
    choice,        ///< one of `choices`
  };
  std::string_view name;
  Type type = Type::text;
  std::string_view default_value;  ///< "" = none
  std::string_view help;
  std::int64_t min = 0;
  std::int64_t max = INT64_MAX;
  std::span<const std::string_view> choices = {};
  bool secret = false;  ///< masked wherever options are shown
};

/// A connection's engine options, checked against the engine's specs when
/// the Database is built, with the defaults filled in.
class Options {
 public:
  /// Whether the option was set in the configuration (not only defaulted).
  [[nodiscard]] bool given(std::string_view name) const;
  [[nodiscard]] bool has(std::string_view name) const { return m_values.contains(name); }
  [[nodiscard]] bool flag(std::string_view name) const;
  [[nodiscard]] std::int64_t integer(std::string_view name) const;
  [[nodiscard]] std::chrono::milliseconds milliseconds(std::string_view name) const;
  [[nodiscard]] const std::string& text(std::string_view name) const;
  /// Every option that has a value, for engines that pass them on (libpq keywords).
  [[nodiscard]] const std::map<std::string, std::string, std::less<>>& all() const noexcept { return m_values; }

  /// Checks `cfg.options` against `specs` and fills in defaults.
  /// @throws ConfigError naming the connection (and file and key when it came
  ///         from a file), the option and what is expected.
  static Options parse(const ConnectionConfig& cfg, std::span<const OptionSpec> specs, std::string_view engine);

 private:
  std::map<std::string, std::string, std::less<>> m_values;  // normalised text: "true", "5000", …
  std::vector<std::string> m_given;
};

/// Where a session goes: the connection, its checked options, and the host
/// (nullptr for a file engine; the primary list for a primary pool).
struct Target {
  const ConnectionConfig& config;
  const Options& options;
  const Endpoint* host;
};

/// The engine's own interactive client for a connection (`plexus console`):
/// the program and its arguments, and environment variables to set. The
/// password goes in `env` (PGPASSWORD, MYSQL_PWD), never in `argv`.
struct ConsoleCommand {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string package;  ///< the Debian package that provides argv[0]
};

/// How an engine describes its own schema (`plexus db show`, `db table`):
/// three read-only queries whose result columns have these names. Each runs
/// on the connection's primary, with values bound like any other query.
struct CatalogQueries {
  /// No parameters. Columns: name, rows (an estimate, or NULL), bytes (data and
  /// indexes, or NULL). Tables the connection sees unqualified, by name.
  std::string_view tables;
  /// One parameter, the table. Columns: name, type, nullable, default_value,
  /// primary_key, in the table's column order; no rows: no such table.
  std::string_view columns;
  /// One parameter, the table. Columns: name, columns (comma-separated),
  /// is_unique, is_primary.
  std::string_view indexes;
  /// The engine keeps no row estimates: count each table's rows instead (exact).
  bool count_rows = false;
  /// One parameter, the table. What Engine::read_collations() reads: by
  /// default rows of (name, collation), the collation a text column compares
  /// by ("" or NULL for other columns; the database's own where it applies).
  std::string_view collations = {};
};

/// How an engine compares text under one collation.
struct TextRules {
  bool binary_order = true;         ///< orders and groups text by its bytes (what a merge across shards does)
  bool case_sensitive_like = true;  ///< LIKE tells 'a' from 'A'
};

class Engine {
 public:
  virtual ~Engine() = default;
  /// The canonical name that type() reports: "sqlite", "postgres", "mysql", …
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  /// Other names a configuration may use ("postgresql", "mariadb", …).
  [[nodiscard]] virtual std::span<const std::string_view> aliases() const noexcept { return {}; }
  /// The SQL dialect the query builder compiles to.
  [[nodiscard]] virtual const Grammar& grammar() const noexcept = 0;
  [[nodiscard]] virtual Capabilities capabilities() const noexcept = 0;
  [[nodiscard]] virtual std::span<const OptionSpec> options() const noexcept { return {}; }
  /// Whether sessions can be opened: false when the client library was not
  /// found at build time (the name, grammar and options still work).
  [[nodiscard]] virtual bool available() const noexcept { return true; }
  /// Checks what option types cannot: required fields, options that
  /// contradict each other. @throws ConfigError.
  virtual void validate(const ConnectionConfig& cfg, const Options& options) const;
  /// Opens a session. @throws ConnectionError (never containing the password).
  [[nodiscard]] virtual std::unique_ptr<Session> connect(const Target& target) const = 0;
  /// Starts opening a session without blocking (see PendingSession), or
  /// nullptr when the engine cannot (the default): the asynchronous API then
  /// runs connect() on a worker. What `target` refers to must outlive the
  /// pending session.
  /// @throws ConnectionError as connect() does, for what fails at once.
  [[nodiscard]] virtual std::unique_ptr<PendingSession> connect_start(const Target& target) const;
  /// How to name the target in logs and errors: "127.0.0.1:5432", "/path/app.db".
  [[nodiscard]] virtual std::string describe(const ConnectionConfig& cfg, const Endpoint* host) const;
  /// Whether a pool may hold more than one session to the same target
  /// (false for SQLite :memory:, where every session is a new database).
  [[nodiscard]] virtual bool shareable(const ConnectionConfig& cfg) const;
  /// Why the target cannot be looked at without creating it (a SQLite file
  /// that does not exist yet), or nullopt; health checks report it instead of
  /// connecting, so a probe never creates a database.
  [[nodiscard]] virtual std::optional<std::string> missing(const ConnectionConfig& cfg, const Endpoint* host) const;
  /// The interactive client for `host` of this connection, or nullopt when
  /// the engine has none. Default: none.
  [[nodiscard]] virtual std::optional<ConsoleCommand> console(const ConnectionConfig& cfg, const Endpoint* host) const;
  /// The schema queries, or nullopt when the engine cannot describe itself. Default: none.
  [[nodiscard]] virtual std::optional<CatalogQueries> catalog() const;
  /// Column name → collation, from the result of CatalogQueries::collations.
  [[nodiscard]] virtual std::vector<std::pair<std::string, std::string>> read_collations(const Result& r) const;
  /// How text compares under `collation` ("" for a column that is not text).
  [[nodiscard]] virtual TextRules text_rules(std::string_view collation) const;

 protected:
  /// For connect() in a build without the engine's client library: a
  /// ConfigError naming the connection, the package to install and the
  /// PLEXUS_WITH_<ENGINE> option to turn on.
  [[noreturn]] void not_in_this_build(const Target& t, std::string_view package) const;
};

}  // namespace plexus::driver

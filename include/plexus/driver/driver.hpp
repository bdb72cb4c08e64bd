// The session half of the engine contract (the descriptor half is
// engine.hpp). Each folder under src/drivers/ implements it; nothing above
// db/ talks to a Session directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/core/result.hpp"
#include "plexus/core/value.hpp"

namespace plexus::driver {

/// Transaction isolation levels (SQL standard names).
enum class Isolation : std::uint8_t { engine_default, read_uncommitted, read_committed, repeatable_read, serializable };
[[nodiscard]] std::string_view to_string(Isolation i) noexcept;

/// How a transaction starts.
struct TransactionSpec {
  Isolation isolation = Isolation::engine_default;
  bool read_only = false;
  [[nodiscard]] bool plain() const noexcept { return isolation == Isolation::engine_default && !read_only; }
};

/// One branch of a two-phase commit, as XA names it: the global transaction
/// (`gtrid`, shared by every participant) and this branch (`bqual`).
struct Xid {
  std::string gtrid;
  std::string bqual;
  [[nodiscard]] std::string to_string() const { return gtrid + "." + bqual; }
  friend bool operator==(const Xid&, const Xid&) = default;
};

/// One open connection to one server (or one SQLite file). Not thread-safe:
/// the pool hands a session to one user at a time.
class Session {
 public:
  virtual ~Session() = default;

  /// Runs one statement with bound parameters and materialises its rows.
  /// Placeholders are `?` on every engine (PostgreSQL also accepts $1…).
  /// Every engine refuses, with a UsageError and before anything runs: more
  /// than one statement in `sql` (a trailing `;` or comment is fine), and a
  /// number of values that differs from the number of placeholders.
  /// @throws plexus::Error with the engine's kind, SQLSTATE and code.
  virtual Result execute(std::string_view sql, std::span<const Value> params) = 0;
  /// Runs one statement and streams its rows. The session is busy until the
  /// returned source is exhausted or destroyed. Parameters are copied.
  virtual std::unique_ptr<RowSource> stream(std::string_view sql, std::span<const Value> params) = 0;
  /// Runs `sql` once per parameter set; one Result per set, in order. The
  /// default runs them back to back; PostgreSQL pipelines them (one round trip
  /// per chunk). On an error, the statements before it have run.
  virtual std::vector<Result> execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets);
  /// Runs one statement and hands its rows to `visit` as they are read,
  /// without building a Result; returns the number of rows (or, for a
  /// statement without columns, the affected rows). The default executes and
  /// walks the Result; SQLite reads each row into a reused buffer.
  virtual std::uint64_t execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit);

  /// True when `column` of `table` is the engine's own row id (SQLite's
  /// INTEGER PRIMARY KEY alias): the insert `plain` (without RETURNING) then
  /// runs and its generated key is read from execute()'s last_insert_id,
  /// which must hold that key even if the table changed in between.
  /// Default: false.
  [[nodiscard]] virtual bool key_is_row_id(std::string_view table, std::string_view column, std::string_view plain);

  /// Runs a script: several statements separated by `;`, without parameters,
  /// each as the engine itself splits them. Rows that statements return are
  /// read and dropped. Returns the rows changed in all. On an error the
  /// statements before it have run (see Queryable::execute_script). The
  /// default refuses with a UsageError naming the engine.
  virtual std::uint64_t execute_script(std::string_view sql);

  virtual void begin() = 0;
  /// BEGIN with an isolation level and/or read-only. The default runs
  /// begin() for a plain spec and refuses any other with a UsageError.
  virtual void begin(const TransactionSpec& spec);
  virtual void commit() = 0;
  virtual void rollback() = 0;

  // ---- two-phase commit (engines with capabilities().two_phase_commit) ----
  // The defaults refuse with a UsageError naming the engine.
  enum class XaStep : std::uint8_t { begin, prepare, commit, rollback, rollback_prepared };
  /// The statement(s) this engine runs for `step` of branch `xid`, as shown in
  /// query hooks ("PREPARE TRANSACTION '…'", "XA END …; XA PREPARE …").
  [[nodiscard]] virtual std::string xa_statement(XaStep step, const Xid& xid) const;
  /// Starts branch `xid` (PostgreSQL: BEGIN; XA: XA START).
  virtual void xa_begin(const Xid& xid, const TransactionSpec& spec);
  /// Prepares the branch: after this it survives a crash of client or server
  /// until xa_commit or xa_rollback (PREPARE TRANSACTION; XA END + XA PREPARE).
  virtual void xa_prepare(const Xid& xid);
  /// Commits a prepared branch, from this or any other session (COMMIT PREPARED; XA COMMIT).
  virtual void xa_commit(const Xid& xid);
  /// Rolls back a branch, prepared or still active in this session.
  virtual void xa_rollback(const Xid& xid, bool prepared);
  /// The prepared branches this server (database) holds whose gtrid starts with `prefix`.
  [[nodiscard]] virtual std::vector<Xid> xa_recover(std::string_view prefix);
  virtual void savepoint(std::string_view name);
  virtual void release_savepoint(std::string_view name);
  virtual void rollback_to_savepoint(std::string_view name);

  // ---- replication (engines without it keep the defaults) ----
  /// The primary's replication position after this session's last write
  /// (PostgreSQL WAL LSN, MariaDB GTID); nullopt when the engine has none.
  [[nodiscard]] virtual std::optional<std::string> replication_position();
  /// On a replica: waits up to `timeout` until it has replayed `position`.
  /// Returns false on timeout.
  [[nodiscard]] virtual bool wait_for_position(const std::string& position, std::chrono::milliseconds timeout);
  /// On a replica: how far behind the primary it is, if the engine says.
  [[nodiscard]] virtual std::optional<std::chrono::milliseconds> replica_lag();
  /// What the server may do now, asked when a connection with several primary
  /// candidates looks for the one that takes writes: `writable` (a primary, a
  /// Galera node that is Synced), `read_only` (a standby, a --read-only
  /// replica) or `unavailable` (a Galera node not Synced). Default: writable.
  enum class NodeRole : std::uint8_t { writable, read_only, unavailable };
  [[nodiscard]] virtual NodeRole node_role();
  /// Whether the server may serve reads now; asked of replicas every half
  /// second while reads go to them. Default: true, without a round trip.
  [[nodiscard]] virtual bool serves_reads();
  /// Why this server refuses to join a two-phase commit (a Galera node), or
  /// nullopt; asked before the branch begins.
  [[nodiscard]] virtual std::optional<std::string> refuses_two_phase_commit();

  /// A round trip to the server. @throws ConnectionError when it is gone.
  virtual void ping() = 0;
  /// False once a connection-level failure has made this session unusable.
  [[nodiscard]] virtual bool healthy() const noexcept = 0;
  /// A check without a round trip, made before an idle session is handed out:
  /// false when the server has closed the connection (or sent something while
  /// it sat idle), so a statement is never sent on a dead session. Default: healthy().
  [[nodiscard]] virtual bool alive() noexcept;
  [[nodiscard]] virtual std::string server_version() = 0;
  /// Canonical name of the engine this session belongs to.
  [[nodiscard]] virtual std::string_view engine() const noexcept = 0;

 protected:
  /// Hands every row of `r` to `visit`; the row count, or the affected rows
  /// for a statement without columns (execute_each's contract).
  static std::uint64_t visit_rows(const Result& r, const RowVisitor& visit);
};

}  // namespace plexus::driver

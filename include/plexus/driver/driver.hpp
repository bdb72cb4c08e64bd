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
#include "plexus/driver/transaction_spec.hpp"

namespace plexus::driver {

/// The non-blocking side of a session, for an event loop (issue #35 builds
/// the coroutine API on it): start() sends a statement and says what the
/// session waits for; the loop waits until socket() is ready for that, calls
/// resume(), and repeats until it answers Wait::done; take() then returns the
/// result or throws the statement's error, as execute() would. One statement
/// at a time per session; the blocking calls must not be used between start()
/// and take(). An engine without it (SQLite: in-process, no socket) returns
/// nullptr from Session::async(), and its statements run on a worker instead.
class AsyncSession {
 public:
  enum class Wait : std::uint8_t { done, read, write };
  virtual ~AsyncSession() = default;
  /// The socket to wait on (valid while the session is open).
  [[nodiscard]] virtual int socket() const noexcept = 0;
  /// Sends `sql` with `params` (checked as execute() checks them, before
  /// anything is sent); never waits for the server.
  [[nodiscard]] virtual Wait start(std::string_view sql, std::span<const Value> params) = 0;
  /// Goes on once the socket is ready for what the last Wait asked.
  [[nodiscard]] virtual Wait resume() = 0;
  /// The result of the statement that answered Wait::done.
  /// @throws plexus::Error as execute() does.
  [[nodiscard]] virtual Result take() = 0;
  /// Asks the server to stop the statement in flight (a blocking request on
  /// another connection, bounded in time: run it off the loop); the statement
  /// then ends with an error that take() throws.
  virtual void cancel() = 0;

  /// Whether start_batch() sends a batch's statements together (PostgreSQL:
  /// pipeline mode, a round trip per chunk). When false, a batch runs as one
  /// start()/take() per parameter set.
  [[nodiscard]] virtual bool pipelines_batches() const noexcept { return false; }
  /// Sends `sql` once for each of `sets`, as execute_batch() runs it (checked
  /// before anything is sent); `sets` must outlive take_batch(). Then
  /// resume() as for start(), and take_batch().
  [[nodiscard]] virtual Wait start_batch(std::string_view sql, std::span<const std::vector<Value>> sets);
  /// The batch's results, one per set, or the first statement's error (the
  /// statements after it did not run).
  /// @throws plexus::Error as execute_batch() does.
  [[nodiscard]] virtual std::vector<Result> take_batch();

  /// Whether start_stream() streams rows on this side (PostgreSQL: single-row
  /// mode). When false, a cursor runs the blocking stream() on a worker.
  [[nodiscard]] virtual bool streams() const noexcept { return false; }
  /// Sends `sql` to stream its rows (never all held at once), checked as
  /// stream() checks it; then resume() as for start(): it answers Wait::done
  /// once rows arrived or the stream ended; take_rows() hands them over.
  [[nodiscard]] virtual Wait start_stream(std::string_view sql, std::span<const Value> params);
  /// Hands over the rows that arrived, without waiting: `into` becomes them
  /// (with the columns; no rows when none arrived yet). True when the stream
  /// has ended and every row was handed over: the session is then free again.
  /// @throws plexus::Error the statement's error, once the rows before it were taken.
  virtual bool take_rows(Result& into);

  /// Sends `sql`, a statement without values or rows (one of
  /// Session::transaction_sql()), by the engine's simple protocol, never
  /// cached; then resume() as for start(), and take_control().
  [[nodiscard]] virtual Wait start_control(std::string_view sql) = 0;
  /// @throws plexus::Error as the blocking step would throw it (a COMMIT
  /// the server answered by rolling back included).
  virtual void take_control() = 0;
};

class Session;

/// A session being opened without blocking (Engine::connect_start), for an
/// event loop: start() says what to wait for first; the loop waits until
/// socket() is ready for that, calls poll(), and repeats until Wait::done or
/// until deadline() passes; finish() then returns the open session, or
/// throws the error connect() would have thrown (a timed-out one when the
/// deadline came first). The socket may change from one poll() to the next.
class PendingSession {
 public:
  virtual ~PendingSession() = default;
  [[nodiscard]] virtual AsyncSession::Wait start() = 0;
  [[nodiscard]] virtual int socket() const noexcept = 0;
  [[nodiscard]] virtual AsyncSession::Wait poll() = 0;
  /// When the connect gives up (the engine's connect timeout); max() for never.
  [[nodiscard]] virtual std::chrono::steady_clock::time_point deadline() const noexcept = 0;
  /// @throws plexus::Error as connect() does.
  [[nodiscard]] virtual std::unique_ptr<Session> finish() = 0;
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

  /// A plain transaction's steps, for transaction_sql().
  enum class TxStep : std::uint8_t { begin, commit, rollback };
  /// The statements (no values, in order) that begin(spec), commit() and
  /// rollback() run, which the non-blocking side sends with start_control();
  /// empty when the step has no such text (the default: it then runs
  /// through the blocking call, on a worker).
  [[nodiscard]] virtual std::vector<std::string> transaction_sql(TxStep step, const TransactionSpec& spec) const;

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
  /// The non-blocking side of this session, or nullptr when the engine has
  /// none (see AsyncSession). Default: none.
  [[nodiscard]] virtual AsyncSession* async() noexcept { return nullptr; }
  /// Asks the engine to stop the statement this session runs on another
  /// thread (a blocking statement the asynchronous API runs on a worker and
  /// its caller cancelled): thread-safe, bounded in time, and to be called
  /// only while that statement runs. It then ends with an error. Default:
  /// nothing (the statement runs to its end).
  virtual void interrupt() noexcept {}

 protected:
  /// Hands every row of `r` to `visit`; the row count, or the affected rows
  /// for a statement without columns (execute_each's contract).
  static std::uint64_t visit_rows(const Result& r, const RowVisitor& visit);
};

}  // namespace plexus::driver

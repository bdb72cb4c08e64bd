#pragma once

#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <errmsg.h>
#include <mysql.h>

#include "plexus/core/error.hpp"
#include "driver/statement_cache.hpp"
#include "plexus/driver/driver.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::engine::mysql {

/// How a result column is fetched and turned into a Value.
enum class Kind : unsigned char { integer, unsigned_integer, boolean, real, text, bytes, date, time, datetime };

/// A prepared statement with its reusable bind buffers.
class Statement {
 public:
  /// Prepares `sql` (a round trip).
  Statement(MYSQL* db, std::string_view sql);
  /// Not prepared yet: prepare_start()/prepare_cont() do it without blocking.
  struct Deferred {};
  static constexpr Deferred deferred{};
  Statement(MYSQL* db, std::string_view sql, Deferred);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  /// Binds and executes; with `buffered` all rows are read to the client first.
  void execute(std::span<const Value> params, bool buffered);
  // The same steps without blocking (the non-blocking side, async.cpp): each
  // returns 0 when done, else the MYSQL_WAIT_* bits to wait for before the
  // matching _cont(ready); a failure throws as the blocking call would.
  [[nodiscard]] int prepare_start();
  [[nodiscard]] int prepare_cont(int ready);
  /// Binds `params` (checking their count): before execute_start().
  void bind(std::span<const Value> params);
  [[nodiscard]] int execute_start();
  [[nodiscard]] int execute_cont(int ready);
  /// After the execute: describes late-announced columns.
  void executed();
  [[nodiscard]] bool has_rows() const noexcept { return m_active; }
  [[nodiscard]] int store_start();
  [[nodiscard]] int store_cont(int ready);
  /// Reads the next row into `row`; false at the end.
  bool fetch(std::vector<Value>& row);
  /// Reads the next row straight into a Result.
  bool fetch_into(Value* out);
  /// mysql_stmt_fetch without blocking: 0 when it answered (its status in
  /// `rc`, for fetched()), else the MYSQL_WAIT_* bits for fetch_cont().
  [[nodiscard]] int fetch_start(int& rc);
  [[nodiscard]] int fetch_cont(int ready, int& rc);
  /// After a fetch answered `rc`: true when a row is in the buffers (read
  /// it with read_row()), false at the end (the result freed).
  /// @throws plexus::Error for a failed fetch.
  bool fetched(int rc);
  void read_row(Value* out);
  void finish() noexcept;

  [[nodiscard]] const Columns& columns() const noexcept { return m_columns; }
  [[nodiscard]] std::size_t column_count() const noexcept { return m_kinds.size(); }
  [[nodiscard]] std::uint64_t affected_rows() const { return mysql_stmt_affected_rows(m_stmt); }
  [[nodiscard]] std::uint64_t insert_id() const { return mysql_stmt_insert_id(m_stmt); }
  /// Rows held by the client after a buffered execute.
  [[nodiscard]] std::uint64_t buffered_rows() const { return mysql_stmt_num_rows(m_stmt); }
  [[noreturn]] void fail() const;

 private:
  /// Sets up the result columns and their bind buffers from `meta`.
  /// A non-blocking step's answer: `wait` as it is, or its error when it is done with `rc` ≠ 0.
  int checked(int wait, int rc) const;
  /// After the prepare answered `rc`: its error, or the parameter count and columns.
  void prepared(int rc);
  void describe(MYSQL_RES* meta);
  Value read(std::size_t i);
  /// read(i) into `out`, reusing the text storage it holds (for row buffers).
  void read_into(std::size_t i, Value& out);

  MYSQL_STMT* m_stmt = nullptr;
  std::string m_sql;
  unsigned long m_param_count = 0;
  std::vector<MYSQL_BIND> m_params;
  std::vector<MYSQL_TIME> m_param_times;
  std::vector<char> m_param_bools;
  std::vector<std::int64_t> m_param_ints;
  std::vector<double> m_param_reals;
  Columns m_columns;
  std::vector<Kind> m_kinds;
  std::vector<MYSQL_BIND> m_out;
  std::vector<std::vector<char>> m_buffers;
  std::vector<unsigned long> m_lengths;
  std::vector<my_bool> m_nulls;
  std::vector<my_bool> m_errors;
  bool m_active = false;
};

/// CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, as PostgreSQL
/// and SQLite do, not only those whose values changed.
inline constexpr unsigned long kClientFlags = CLIENT_FOUND_ROWS;

/// A client handle made for a target with every option set, not yet
/// connected (closed when it goes, unless a Session took it).
struct Handle {
  explicit Handle(const driver::Target& target);
  ~Handle();
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  /// Throws the ConnectionError of the failed connect (closes the handle).
  [[noreturn]] void fail(bool slow);
  MYSQL* db = nullptr;
  unsigned connect_timeout = 0;
  std::string mode;  ///< sslmode as given, or prefer
  bool tls_wanted = false, tls_required = false;
  const Endpoint* ep = nullptr;
  const char* host = nullptr;
  const char* socket = nullptr;
  unsigned port = 0;
};

class Session final : public driver::Session, public driver::AsyncSession {
 public:
  /// Connects (blocking).
  explicit Session(const driver::Target& target);
  /// Takes the connection of a handle PendingSession opened and set up.
  Session(Handle& opened, const driver::Target& target);
  /// The statements every new session runs first.
  static std::vector<std::string> setup_sql(const driver::Target& target);
  ~Session() override;

  Result execute(std::string_view sql, std::span<const Value> params) override;
  std::uint64_t execute_script(std::string_view sql) override;
  std::uint64_t execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) override;
  std::unique_ptr<RowSource> stream(std::string_view sql, std::span<const Value> params) override;
  [[nodiscard]] std::vector<std::string> transaction_sql(TxStep step, const driver::TransactionSpec& spec) const override;
  void begin() override { simple("START TRANSACTION"); }
  void begin(const driver::TransactionSpec& spec) override;
  [[nodiscard]] std::string xa_statement(XaStep step, const driver::Xid& xid) const override;
  void xa_begin(const driver::Xid& xid, const driver::TransactionSpec& spec) override;
  void xa_prepare(const driver::Xid& xid) override;
  void xa_commit(const driver::Xid& xid) override;
  void xa_rollback(const driver::Xid& xid, bool prepared) override;
  [[nodiscard]] std::vector<driver::Xid> xa_recover(std::string_view prefix) override;
  void commit() override { simple("COMMIT"); }
  void rollback() override { simple("ROLLBACK"); }
  void ping() override;
  [[nodiscard]] std::optional<std::string> replication_position() override;
  [[nodiscard]] bool wait_for_position(const std::string& position, std::chrono::milliseconds timeout) override;
  [[nodiscard]] std::optional<std::chrono::milliseconds> replica_lag() override;
  [[nodiscard]] NodeRole node_role() override;
  [[nodiscard]] bool serves_reads() override;
  [[nodiscard]] std::optional<std::string> refuses_two_phase_commit() override;
  /// A session left with a non-blocking statement in flight is not handed out again.
  [[nodiscard]] bool healthy() const noexcept override { return m_db && !m_broken && m_step == Step::idle; }
  [[nodiscard]] bool alive() noexcept override;
  [[nodiscard]] std::string server_version() override;
  [[nodiscard]] std::string_view engine() const noexcept override { return "mysql"; }

  // The non-blocking side (async.cpp): Connector/C's _start/_cont calls.
  /// None on an encrypted session: Connector/C as Debian builds it (GnuTLS)
  /// blocks in its TLS reads and writes even inside the _start/_cont calls,
  /// which would stall a loop; such a session's statements go to a worker.
  [[nodiscard]] driver::AsyncSession* async() noexcept override { return m_encrypted ? nullptr : this; }
  void interrupt() noexcept override { kill_query(); }
  [[nodiscard]] int socket() const noexcept override;
  [[nodiscard]] Wait start(std::string_view sql, std::span<const Value> params) override;
  [[nodiscard]] Wait resume() override;
  [[nodiscard]] Result take() override;
  void cancel() override;
  [[nodiscard]] Wait start_control(std::string_view sql) override;
  void take_control() override;
  [[nodiscard]] bool streams() const noexcept override { return true; }
  [[nodiscard]] Wait start_stream(std::string_view sql, std::span<const Value> params) override;
  bool take_rows(Result& into) override;

 private:
  /// A stream's next fetch: read rows while the client has them, then wait.
  Wait fetch_rows(int wait);
  /// What a control statement's _start/_cont call answered (`status` its
  /// wait bits, `err` its result): wait again, or done.
  Wait control_step(int status, int err);
  void simple(std::string_view sql);
  Result text_query(std::string_view sql);
  [[noreturn]] void fail(std::string_view sql);
  Statement& cached(std::string_view sql);
  /// Caches the prepared `st` for `sql` (emptying a full cache first).
  Statement& keep(std::string_view sql, std::unique_ptr<Statement> st);
  /// The rows (or the write's summary) of `st`, executed with its result stored.
  Result buffered_result(Statement& st);
  /// Prepares (cached) and runs `sql` buffered, then body(statement); notes
  /// errors and reports a read timeout as one. False when the binary protocol
  /// cannot prepare it and it has no parameters: run it as text instead.
  template <class Body>
  bool run_statement(std::string_view sql, std::span<const Value> params, Body&& body);
  /// Notes what `e` says of the session (and, for `sql`, of its cached statement).
  void note_error(const Error& e, std::string_view sql = {}) noexcept;
  /// Stops this session's running statement from a new session (after a timeout).
  void kill_query() noexcept;

  /// Runs the non-blocking statement from its current step until it must
  /// wait (`wait` is the MYSQL_WAIT_* bits of the step that just asked).
  Wait advance(int wait);
  /// Ends the statement in flight with the error being thrown.
  Wait failed_async() noexcept;

  // The statement in flight on the non-blocking side.
  enum class Step : std::uint8_t { idle, preparing, executing, storing, fetching, controlling, done };
  Step m_step = Step::idle;
  int m_wait = 0;                         // the MYSQL_WAIT_* bits asked for last
  std::string m_async_sql;
  std::unique_ptr<Statement> m_preparing;  // not in the cache until prepared
  Statement* m_async = nullptr;
  std::vector<Value> m_async_params;       // kept while the statement is prepared
  std::exception_ptr m_async_error;
  bool m_control = false;                  // a start_control() statement is in flight
  // A stream (start_stream): rows fetched and not taken yet; a fetch may be
  // in flight (its status in m_fetch_rc once it answers).
  struct Streaming {
    bool on = false;
    bool ended = false;
    bool fetching = false;
    int rc = 0;
    Result rows;
    std::uint64_t affected = 0;
  };
  Streaming m_stream;

  MYSQL* m_db = nullptr;
  bool m_broken = false;
  /// Takes the handle's connection (refused when TLS was required and the session is plain).
  void adopt(Handle& h, const driver::Target& target);
  bool m_mariadb = false;  // GTID functions differ between MariaDB and MySQL
  bool m_tls_required = false;  // sslmode asks for an encrypted session
  bool m_encrypted = false;     // the session is encrypted (TLS)
  std::optional<bool> m_galera;  // a node of a Galera cluster (asked once)
  /// Whether the server is a Galera node (wsrep_on), asked on first need.
  bool galera();
  /// wsrep_local_state_comment == 'Synced' (a Galera node that may serve).
  bool synced();
  // Where this session runs, for kill_query(): the server's id for it and how to log in.
  unsigned long m_thread_id = 0;
  Endpoint m_target;
  std::string m_user, m_password;
  std::chrono::milliseconds m_timeout{0};  // query_timeout: a lost connection after it is a timeout
  std::size_t m_cache_cap = 256;
  detail::StatementCache<std::unique_ptr<Statement>> m_cache;
  std::vector<Value> m_row;  // execute_each's reused row buffer
};

/// A session opened without blocking (a session without TLS: Connector/C
/// as Debian builds it blocks inside its TLS handshake): the connect, then
/// the setup statements, through the _start/_cont calls.
class PendingSession final : public driver::PendingSession {
 public:
  explicit PendingSession(const driver::Target& target);
  [[nodiscard]] bool plain() const noexcept { return !m_handle.tls_wanted; }
  [[nodiscard]] driver::AsyncSession::Wait start() override;
  [[nodiscard]] int socket() const noexcept override;
  [[nodiscard]] driver::AsyncSession::Wait poll() override;
  [[nodiscard]] std::chrono::steady_clock::time_point deadline() const noexcept override { return m_deadline; }
  [[nodiscard]] std::unique_ptr<driver::Session> finish() override;

 private:
  using Wait = driver::AsyncSession::Wait;
  enum class Step : std::uint8_t { connecting, setting, open, failed };
  /// What a _start/_cont call answered: wait again, or go on to the next step.
  Wait step(int status, bool ok);
  driver::Target m_target;
  Handle m_handle;
  std::vector<std::string> m_setup;
  std::size_t m_next = 0;
  Step m_step = Step::connecting;
  Wait m_waiting = Wait::write;
  std::chrono::steady_clock::time_point m_deadline;
};

}  // namespace plexus::engine::mysql

#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

#include "driver/statement_cache.hpp"
#include "plexus/driver/driver.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::engine::postgres {

/// `?` placeholders → `$1…` (outside literals, identifiers and comments;
/// `??` is a literal `?`). SQL that already uses `$n` is returned unchanged.
/// `count` (if given) receives how many values the statement takes.
std::string translate_placeholders(std::string_view sql, std::size_t* count = nullptr);

/// Waits (poll) until libpq can hand out a result without blocking; false when
/// `deadline` passes first.
bool await_result(PGconn* conn, std::chrono::steady_clock::time_point deadline);

/// Converts one text-format field of type `oid` to a Value.
Value decode(Oid oid, const char* data, int len);
/// decode() into `out`, in place for integers and plain text (for row buffers).
void decode_into(Oid oid, const char* data, int len, Value& out);
/// Row `row` of `raw` into out[0 .. types.size()), nulls included.
void decode_row(const PGresult* raw, int row, const std::vector<Oid>& types, Value* out);

/// Owns one PGresult.
struct ResultPtr {
  PGresult* r;
  explicit ResultPtr(PGresult* p) : r(p) {}
  ~ResultPtr() { PQclear(r); }
  ResultPtr(const ResultPtr&) = delete;
  ResultPtr& operator=(const ResultPtr&) = delete;
};

/// How long a cancel request may take before the session is closed anyway.
inline constexpr std::chrono::milliseconds kCancelWait{1000};
/// Asks the server to cancel what `conn` is running, waiting at most `limit`.
void cancel_bounded(PGconn* conn, std::chrono::milliseconds limit);
/// Whether `r` is a failure (or missing).
bool failed(const PGresult* r);
/// Throws the error of `res` (a statement refused for holding several
/// statements is a UsageError: nothing of it ran).
[[noreturn]] void refuse_or_throw(PGconn* conn, const PGresult* res, std::string_view sql);

struct Prepared {
  std::string name;  // empty when statements are not cached (pgbouncer transaction mode)
  std::string sql;   // translated SQL
  std::size_t placeholders = 0;  // values it takes, counted client-side
  // The result shape, learnt on first run (named statements only).
  bool described = false;
  Columns columns;
  std::vector<Oid> types;
};

/// libpq's connection keywords for a target, and what connecting needs besides.
struct ConnectParams {
  explicit ConnectParams(const driver::Target& target);
  std::vector<std::string> keys, values;
  std::vector<const char*> key_ptrs, value_ptrs;  ///< null-terminated, for PQconnect*Params
  std::chrono::seconds connect_timeout{2};        ///< connect_timeout, at least 2 s (libpq's own floor)
  bool bounded = false;                           ///< connect_timeout was given
  /// The statements every new session runs first.
  static std::string setup_sql(const driver::Target& target);
  /// Throws the ConnectionError of a failed connect (libpq's message, never the password).
  [[noreturn]] static void fail(PGconn* conn, bool slow);
};

class Session final : public driver::Session, public driver::AsyncSession {
 public:
  /// Connects (blocking).
  explicit Session(const driver::Target& target);
  /// Takes a connection PendingSession opened and set up.
  Session(PGconn* opened, const driver::Target& target);
  ~Session() override;

  Result execute(std::string_view sql, std::span<const Value> params) override;
  std::uint64_t execute_script(std::string_view sql) override;
  std::uint64_t execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) override;
  std::unique_ptr<RowSource> stream(std::string_view sql, std::span<const Value> params) override;
  /// Pipeline mode: the batch is sent in chunks, each answered in one round trip.
  std::vector<Result> execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets) override;
  [[nodiscard]] std::vector<std::string> transaction_sql(TxStep step, const driver::TransactionSpec& spec) const override;
  void begin() override;
  void begin(const driver::TransactionSpec& spec) override;
  [[nodiscard]] std::string xa_statement(XaStep step, const driver::Xid& xid) const override;
  void xa_begin(const driver::Xid& xid, const driver::TransactionSpec& spec) override;
  void xa_prepare(const driver::Xid& xid) override;
  void xa_commit(const driver::Xid& xid) override;
  void xa_rollback(const driver::Xid& xid, bool prepared) override;
  [[nodiscard]] std::vector<driver::Xid> xa_recover(std::string_view prefix) override;
  void commit() override;
  void rollback() override;
  void ping() override;
  [[nodiscard]] std::optional<std::string> replication_position() override;
  [[nodiscard]] bool wait_for_position(const std::string& position, std::chrono::milliseconds timeout) override;
  [[nodiscard]] std::optional<std::chrono::milliseconds> replica_lag() override;
  [[nodiscard]] NodeRole node_role() override;
  [[nodiscard]] bool healthy() const noexcept override;
  [[nodiscard]] bool alive() noexcept override;
  [[nodiscard]] std::string server_version() override;
  [[nodiscard]] std::string_view engine() const noexcept override { return "postgres"; }

  // The non-blocking side (async.cpp): libpq's PQsend*/PQconsumeInput/PQisBusy.
  [[nodiscard]] driver::AsyncSession* async() noexcept override { return this; }
  [[nodiscard]] int socket() const noexcept override;
  [[nodiscard]] Wait start(std::string_view sql, std::span<const Value> params) override;
  [[nodiscard]] Wait resume() override;
  [[nodiscard]] Result take() override;
  void cancel() override;
  [[nodiscard]] bool pipelines_batches() const noexcept override { return true; }
  [[nodiscard]] Wait start_batch(std::string_view sql, std::span<const std::vector<Value>> sets) override;
  [[nodiscard]] std::vector<Result> take_batch() override;
  [[nodiscard]] bool streams() const noexcept override { return true; }
  [[nodiscard]] Wait start_stream(std::string_view sql, std::span<const Value> params) override;
  bool take_rows(Result& into) override;
  [[nodiscard]] Wait start_control(std::string_view sql) override;
  void take_control() override;

  PGconn* handle() const noexcept { return m_conn; }
  /// query_timeout (0 = none).
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept { return m_timeout; }
  /// Cancels the running statement on the server (bounded in time), closes
  /// the session and throws TimeoutError.
  [[noreturn]] void fail_timeout(std::string_view sql);
  /// Refuses a call whose value count differs from the statement's placeholders.
  static void check_count(const Prepared& p, std::size_t given, std::string_view sql);
  /// Refuses text value `v` (the i-th, 0-based) when it holds a NUL byte.
  static void refuse_nul(const Value& v, std::size_t i);

 private:
  /// Encoded parameters, kept alive for one libpq call.
  struct Encoded {
    std::vector<std::string> storage;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
  };
  /// @throws UsageError for a value PostgreSQL cannot store as given (NUL in text).
  static void encode(std::span<const Value> params, Encoded& out);
  Prepared& prepare(std::string_view sql, int nparams);
  PGresult* run(const Prepared& p, const Encoded& enc);
  /// Gathers the results of a sent query within query_timeout.
  PGresult* collect(std::string_view sql);
  void exec_simple(const char* sql);
  /// What every session takes from its target: notices off, statement cache, query timeout.
  void configure(const driver::Target& target);
  /// Rows and counts of one result (the session's type scratch is reused).
  Result materialise(PGresult* raw, Prepared* shape);
  /// Runs `sql` (prepared and cached, or simple without parameters when the
  /// cache is off); the caller owns the successful result. `shape` is the
  /// cached statement, if any.
  PGresult* query(std::string_view sql, std::span<const Value> params, Prepared*& shape);
  /// The result's column names, built once per cached statement.
  Columns columns_for(PGresult* raw, Prepared* shape);
  /// The next result of a sent query, within query_timeout.
  PGresult* next_result(std::string_view sql);
  /// Closes the connection after a protocol failure: the pool then discards the session.
  void abandon() noexcept;

  /// The statement in flight is over (taken): the session back to idle and
  /// blocking; returns the result kept (the caller owns it).
  PGresult* end_in_flight() noexcept;
  /// Throws the error of the failed result `r` of m_async_sql (a cached
  /// statement whose table changed shape leaves the cache first).
  [[noreturn]] void raise_failed(const PGresult* r, bool cached);
  /// Throws when a COMMIT's answer `r` says the server rolled back instead.
  static void check_committed(PGresult* r);
  /// Sends what start() or the end of a prepare queued; what to wait for next.
  Wait flush_sent();
  /// Sends the statement `p` with the encoded parameters (m_enc).
  void send(const Prepared& p);
  /// The batch's next chunk of statements and a sync.
  Wait send_chunk();
  /// resume() of a batch: its results gathered chunk by chunk.
  Wait resume_batch();

  // The statement in flight on the non-blocking side: its text (for errors
  // and the cache), its step, its cached shape, and the result kept so far
  // (the first error, else the last result).
  enum class Step : std::uint8_t { idle, running, done };
  Step m_step = Step::idle;
  bool m_flushing = false;
  bool m_pipelined = false;  // prepare + statement + sync sent together
  std::string m_async_sql;
  Prepared m_pending;
  Prepared* m_shape = nullptr;
  PGresult* m_kept = nullptr;
  // The batch in flight (start_batch): its sets, the next one to send, the
  // results so far; `preparing` until the sync after its PQsendPrepare.
  struct Batch {
    bool on = false;
    bool preparing = false;
    bool prepare_answered = false;
    std::span<const std::vector<Value>> sets;
    std::size_t next = 0;
    std::vector<Result> results;
  };
  Batch m_batch;
  bool m_control = false;  // a start_control() statement is in flight
  // A stream (start_stream): rows that arrived and are not taken yet; ended
  // once the final result (or the error, kept in m_kept) is in.
  struct Streaming {
    bool on = false;
    bool ended = false;
    Result rows;
  };
  Streaming m_stream;
  /// resume() of a stream: the rows that arrived, decoded.
  Wait resume_stream();

  PGconn* m_conn = nullptr;
  std::chrono::milliseconds m_timeout{0};
  bool m_cache_enabled = true;
  std::size_t m_cache_cap = 256;
  std::uint64_t m_next_name = 0;
  detail::StatementCache<Prepared> m_cache;
  Prepared m_unnamed;  // reused when the cache is off
  Encoded m_enc;               // parameter scratch, reused by every execute
  std::vector<Oid> m_types;    // column type scratch
  std::vector<Value> m_row;    // execute_each's reused row buffer
};

/// A session opened without blocking: PQconnectStartParams and
/// PQconnectPoll, then the setup statements sent and read without waiting.
class PendingSession final : public driver::PendingSession {
 public:
  explicit PendingSession(const driver::Target& target);
  ~PendingSession() override;
  [[nodiscard]] driver::AsyncSession::Wait start() override;
  [[nodiscard]] int socket() const noexcept override;
  [[nodiscard]] driver::AsyncSession::Wait poll() override;
  [[nodiscard]] std::chrono::steady_clock::time_point deadline() const noexcept override;
  [[nodiscard]] std::unique_ptr<driver::Session> finish() override;

 private:
  using Wait = driver::AsyncSession::Wait;
  enum class Step : std::uint8_t { connecting, setting, open, failed };
  driver::Target m_target;
  ConnectParams m_params;
  PGconn* m_conn = nullptr;
  Step m_step = Step::connecting;
  std::string m_setup_error;
  std::chrono::steady_clock::time_point m_started;
};

}  // namespace plexus::engine::postgres

// The asynchronous API: Plexus statements as Boost.Asio operations, so a
// service on an event loop (Asio, Beast) runs many queries from one thread
// without parking a thread per query.
//
//   boost::asio::awaitable<void> dashboard(plexus::Database& db) {
//     using boost::asio::use_awaitable;
//     auto [users, orders] = co_await plexus::all(
//         plexus::async_select(db.connection("users"), "SELECT count(*) FROM users", {}, use_awaitable),
//         plexus::async_select(db.connection("orders"), "SELECT count(*) FROM orders", {}, use_awaitable));
//   }
//
// A statement walks the same route as on the blocking API (read/write
// splitting, replica ejection, causal and sticky reads, fail-over
// following), fires the same hooks and metrics and throws the same errors.
// PostgreSQL and MariaDB sessions wait on their sockets in the caller's
// io_context; sessions without a non-blocking side (SQLite, MariaDB over TLS)
// run their statements on a small bounded worker pool. Connecting runs there
// too. See docs/async.md.
//
// Completion tokens: every operation takes one (use_awaitable, a callback
// bound to an executor with bind_executor, use_future, deferred); the
// completion signature is void(std::exception_ptr, Result). The socket waits
// run on the handler's associated executor, or on default_io_context() when
// it has none (a plain callback, use_future).
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "plexus/database.hpp"

namespace plexus {

/// The io_context Plexus waits in for operations whose completion brings no
/// executor of its own (a plain callback, use_future): a thread of Plexus
/// runs it while such operations are pending (and ends when none are). Run
/// an io_context of your own for anything else.
[[nodiscard]] boost::asio::io_context& default_io_context();

namespace async_detail {

using ResultHandler = boost::asio::any_completion_handler<void(std::exception_ptr, Result)>;

/// One statement of the asynchronous API, owning what it runs.
struct QueryArgs {
  std::string sql;
  std::vector<Value> params;
  Intent intent = Intent::write;
  RouteOptions route;
};

/// Routes and runs `args` on `c`, waiting on `io` (src/async/async.cpp);
/// `io` of Asio's system context (a handler without an executor of its own:
/// a plain callback, use_future) is replaced by default_io_context().
void start_query(Connection& c, boost::asio::any_io_executor io, QueryArgs args, ResultHandler handler);

/// A batch of the asynchronous API: `sql` once per set of `sets`.
struct BatchArgs {
  std::string sql;
  std::vector<std::vector<Value>> sets;
  Intent intent = Intent::write;
  RouteOptions route;
};
using BatchHandler = boost::asio::any_completion_handler<void(std::exception_ptr, std::vector<Result>)>;

/// Routes and runs the batch `args` on `c` (a write: in a transaction of its own).
void start_batch(Connection& c, boost::asio::any_io_executor io, BatchArgs args, BatchHandler handler);

template <class Token>
auto initiate_batch(Connection& c, BatchArgs args, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, std::vector<Result>)>(
      [&c](auto handler, BatchArgs a) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        start_batch(c, std::move(io), std::move(a), BatchHandler(std::move(handler)));
      },
      token, std::move(args));
}

template <class Token>
auto initiate_query(Connection& c, QueryArgs args, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, Result)>(
      [&c](auto handler, QueryArgs a) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        start_query(c, std::move(io), std::move(a), ResultHandler(std::move(handler)));
      },
      token, std::move(args));
}

/// Plans `q` on `g` and runs its members at once on `io` (src/async/async.cpp).
void start_read(ShardGroup& g, boost::asio::any_io_executor io, QueryBuilder q, ResultHandler handler);

/// A read to run: one statement on a connection, or a builder on a shard group.
struct ReadPlan {
  Connection* conn = nullptr;
  QueryArgs args;
  ShardGroup* group = nullptr;
  std::optional<QueryBuilder> builder;
};

/// Runs `plan`, completing with `convert(Result)`, a T, instead of the
/// Result (a builder verb's or a model's answer); what `convert` throws is
/// the operation's error. The handler keeps its executor and cancellation slot.
template <class T, class Convert, class Token>
auto initiate_read_as(ReadPlan plan, Convert convert, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, T)>(
      [](auto handler, ReadPlan p, Convert f) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        auto done = [h = std::move(handler), f = std::move(f)](std::exception_ptr e, Result r) mutable {
          std::optional<T> out;
          if (!e) {
            try {
              out.emplace(f(std::move(r)));
            } catch (...) {
              e = std::current_exception();
            }
          }
          std::move(h)(e, out ? std::move(*out) : T{});
        };
        ResultHandler bound(boost::asio::bind_cancellation_slot(slot, boost::asio::bind_executor(io, std::move(done))));
        if (p.group) start_read(*p.group, io, std::move(*p.builder), std::move(bound));
        else start_query(*p.conn, io, std::move(p.args), std::move(bound));
      },
      token, std::move(plan), std::move(convert));
}

/// initiate_query() completing with `convert(Result)` (see initiate_read_as).
template <class T, class Convert, class Token>
auto initiate_as(Connection& c, QueryArgs args, Convert convert, Token&& token) {
  return initiate_read_as<T>(ReadPlan{&c, std::move(args), nullptr, std::nullopt}, std::move(convert),
                             std::forward<Token>(token));
}

}  // namespace async_detail

/// Parameters for an asynchronous call, made outside the co_await
/// expression: `co_await async_select(c, sql, values(7, "x"), use_awaitable)`.
/// (g++ 12 refuses a braced list such as `{7, "x"}` inside a co_await
/// expression, "array used as initializer", a compiler bug clang does not
/// have; a list made before the co_await works everywhere.)
template <class... A>
[[nodiscard]] std::vector<Value> values(A&&... a) {
  std::vector<Value> out;
  out.reserve(sizeof...(A));
  (out.emplace_back(std::forward<A>(a)), ...);
  return out;
}

/// Raw SQL with the intent said at the call (the seed's `await db.query(sql,
/// params, isRead)`): Intent::read may go to a replica, Intent::write goes
/// to the primary. Completes with the Result or the error the blocking
/// query() would throw. Cancelling the operation (a cancellation slot, a
/// timer raced with `||`) stops the statement on the server and discards the
/// session; it completes with boost::asio::error::operation_aborted.
template <class Token>
auto async_query(Connection& c, std::string sql, std::vector<Value> params, Intent intent, Token&& token) {
  return async_detail::initiate_query(c, {std::move(sql), std::move(params), intent, {}}, std::forward<Token>(token));
}
/// The same through a routed view (conn.with(uow), on_primary(), on_replica()).
template <class Token>
auto async_query(const RoutedConnection& c, std::string sql, std::vector<Value> params, Intent intent, Token&& token) {
  return async_detail::initiate_query(c.connection(), {std::move(sql), std::move(params), intent, c.options()},
                                      std::forward<Token>(token));
}
/// A read (Connection::select): may go to a replica.
template <class Target, class Token>
auto async_select(Target&& c, std::string sql, std::vector<Value> params, Token&& token) {
  return async_query(std::forward<Target>(c), std::move(sql), std::move(params), Intent::read, std::forward<Token>(token));
}
/// A write (Connection::execute): goes to the primary.
template <class Target, class Token>
auto async_execute(Target&& c, std::string sql, std::vector<Value> params, Token&& token) {
  return async_query(std::forward<Target>(c), std::move(sql), std::move(params), Intent::write, std::forward<Token>(token));
}

/// Connection::select_batch: `sql` once for each parameter set, on one
/// session, routed as a read (may go to a replica). PostgreSQL sends the
/// statements together in one pipeline (a round trip per 128); other
/// engines run them one after another on the session. Completes with one
/// Result per set (signature `void(std::exception_ptr, std::vector<Result>)`).
template <class Token>
auto async_select_batch(Connection& c, std::string sql, std::vector<std::vector<Value>> sets, Token&& token) {
  return async_detail::initiate_batch(c, {std::move(sql), std::move(sets), Intent::read, {}}, std::forward<Token>(token));
}
/// The same through a routed view (conn.with(uow), on_primary(), on_replica()).
template <class Token>
auto async_select_batch(const RoutedConnection& c, std::string sql, std::vector<std::vector<Value>> sets, Token&& token) {
  return async_detail::initiate_batch(c.connection(), {std::move(sql), std::move(sets), Intent::read, c.options()},
                                      std::forward<Token>(token));
}
/// Connection::execute_batch: the same as a write, on the primary, all or
/// nothing (in a transaction of its own, as the blocking call).
template <class Token>
auto async_execute_batch(Connection& c, std::string sql, std::vector<std::vector<Value>> sets, Token&& token) {
  return async_detail::initiate_batch(c, {std::move(sql), std::move(sets), Intent::write, {}}, std::forward<Token>(token));
}

/// A streaming read of the asynchronous API (Connection::cursor): its rows
/// are handed out as they arrive, never all held at once. PostgreSQL and
/// MariaDB stream on your loop; SQLite (and MariaDB over TLS) pull from the
/// blocking stream on the worker pool. The cursor holds its session until
/// every row was read; one dropped before that has its statement stopped
/// on the server and its session closed (on a worker), rather than reading
/// the rest.
///   AsyncCursor c = co_await async_cursor(conn, "SELECT id, name FROM users", {});
///   for (Result rows = co_await c.next(); !rows.empty(); rows = co_await c.next())
///     for (Row r : rows) …;
class AsyncCursor {
 public:
  struct State;
  explicit AsyncCursor(std::unique_ptr<State> s) noexcept;
  AsyncCursor(AsyncCursor&&) noexcept;
  AsyncCursor& operator=(AsyncCursor&&) noexcept;
  ~AsyncCursor();
  /// The rows that arrived since the last call (waiting until at least one
  /// does); an empty Result (with the columns) once every row was read.
  /// @throws plexus::Error as Cursor::next(); cancelling it stops the
  /// statement on the server and closes the session.
  [[nodiscard]] boost::asio::awaitable<Result> next();
  /// The rows handed out so far.
  [[nodiscard]] std::uint64_t position() const noexcept;
  /// Whether every row was read (the session is back in its pool).
  [[nodiscard]] bool done() const noexcept;

 private:
  std::unique_ptr<State> m_state;
};

namespace async_detail {
[[nodiscard]] boost::asio::awaitable<AsyncCursor> open_cursor(Connection& c, std::string sql, std::vector<Value> params,
                                                              Intent intent, RouteOptions route);
}  // namespace async_detail

/// Opens a cursor (Connection::cursor): routed as a read by default (a
/// replica that fails before any row arrived is left out, as on the blocking
/// API); an error the statement raises at once is thrown here.
[[nodiscard]] inline boost::asio::awaitable<AsyncCursor> async_cursor(Connection& c, std::string sql,
                                                                     std::vector<Value> params,
                                                                     Intent intent = Intent::read) {
  return async_detail::open_cursor(c, std::move(sql), std::move(params), intent, {});
}
/// The same through a routed view (conn.with(uow), on_primary(), on_replica()).
[[nodiscard]] inline boost::asio::awaitable<AsyncCursor> async_cursor(const RoutedConnection& c, std::string sql,
                                                                     std::vector<Value> params,
                                                                     Intent intent = Intent::read) {
  return async_detail::open_cursor(c.connection(), std::move(sql), std::move(params), intent, c.options());
}

class AsyncTransaction;

namespace async_detail {
/// BEGIN on the primary's session, taken without blocking.
[[nodiscard]] boost::asio::awaitable<AsyncTransaction> begin(Connection& c, TransactionOptions opts, unsigned attempt);
/// After a transaction's attempt failed with `failed` (already rolled back):
/// rethrows it unless the policy runs the transaction again, else counts
/// the retry, tells the hooks and returns the wait before the next attempt.
[[nodiscard]] std::chrono::microseconds retry_or_rethrow(Connection& c, const std::exception_ptr& failed, bool committed,
                                                         unsigned attempt, const RetryPolicy& policy);
/// Waits `d` on the caller's executor.
[[nodiscard]] boost::asio::awaitable<void> sleep(std::chrono::microseconds d);
}  // namespace async_detail

/// A transaction on one connection's primary, driven from a coroutine: its
/// statements run on the session's non-blocking side as the connection's
/// do, with the blocking Transaction's hooks, events (route "transaction",
/// its id) and errors; BEGIN, COMMIT and ROLLBACK too (on a worker for
/// sessions without a non-blocking side). A COMMIT or ROLLBACK in flight is
/// not cancelled: a cancellation reaches the caller's next operation.
/// Await commit() or rollback(); one destroyed while still open is rolled
/// back in its destructor (blocking the thread for that round trip).
class AsyncTransaction {
 public:
  struct State;
  explicit AsyncTransaction(std::unique_ptr<State> s) noexcept;
  AsyncTransaction(AsyncTransaction&&) noexcept;
  AsyncTransaction& operator=(AsyncTransaction&&) = delete;
  ~AsyncTransaction();

  /// Raw SQL in the transaction (its session, the primary).
  /// @throws plexus::Error as Transaction::query; UsageError once it ended.
  [[nodiscard]] boost::asio::awaitable<Result> query(std::string sql, std::vector<Value> params, Intent intent);
  [[nodiscard]] boost::asio::awaitable<Result> select(std::string sql, std::vector<Value> params = {}) {
    return query(std::move(sql), std::move(params), Intent::read);
  }
  [[nodiscard]] boost::asio::awaitable<Result> execute(std::string sql, std::vector<Value> params = {}) {
    return query(std::move(sql), std::move(params), Intent::write);
  }
  /// A batch in the transaction (Transaction::select_batch/execute_batch):
  /// pipelined on PostgreSQL, one statement after another elsewhere.
  [[nodiscard]] boost::asio::awaitable<std::vector<Result>> batch(std::string sql, std::vector<std::vector<Value>> sets,
                                                                  Intent intent);
  [[nodiscard]] boost::asio::awaitable<std::vector<Result>> select_batch(std::string sql,
                                                                         std::vector<std::vector<Value>> sets) {
    return batch(std::move(sql), std::move(sets), Intent::read);
  }
  [[nodiscard]] boost::asio::awaitable<std::vector<Result>> execute_batch(std::string sql,
                                                                          std::vector<std::vector<Value>> sets) {
    return batch(std::move(sql), std::move(sets), Intent::write);
  }
  /// @throws plexus::Error; after a failed commit the transaction is over.
  [[nodiscard]] boost::asio::awaitable<void> commit();
  /// Rolls back (nothing when it already ended). Never throws: a session
  /// that cannot roll back is closed, which rolls it back on the server.
  [[nodiscard]] boost::asio::awaitable<void> rollback();
  [[nodiscard]] bool active() const noexcept;
  [[nodiscard]] bool committed() const noexcept;
  /// The id its events carry.
  [[nodiscard]] std::uint64_t id() const noexcept;
  [[nodiscard]] Connection& connection() const noexcept;

 private:
  std::unique_ptr<State> m_state;
};

/// Starts a transaction to drive by hand (the asynchronous Connection::begin).
[[nodiscard]] inline boost::asio::awaitable<AsyncTransaction> async_begin(Connection& c, TransactionOptions opts = {}) {
  return async_detail::begin(c, opts, 1);
}

/// Runs `fn(tx)`, a coroutine, in a transaction on the primary (the
/// asynchronous Connection::transaction): commits when it returns, rolls
/// back when it throws (and rethrows); `opts.retry` runs it again after a
/// serialization failure or deadlock as the blocking API does (the waits on
/// a timer, not a sleeping thread). Returns what `fn` returns.
///
///   co_await plexus::async_transaction(db.connection("main"), [&](plexus::AsyncTransaction& tx) -> awaitable<void> {
///     co_await tx.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", plexus::values(10, 1));
///     co_await tx.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", plexus::values(10, 2));
///   });
template <class F>
auto async_transaction(Connection& c, F fn, TransactionOptions opts = {}) -> std::invoke_result_t<F&, AsyncTransaction&> {
  using R = typename std::invoke_result_t<F&, AsyncTransaction&>::value_type;
  for (unsigned attempt = 1;; ++attempt) {
    AsyncTransaction tx = co_await async_detail::begin(c, opts, attempt);
    std::exception_ptr failed;
    if constexpr (std::is_void_v<R>) {
      try {
        co_await fn(tx);
        co_await tx.commit();
        co_return;
      } catch (...) {
        failed = std::current_exception();
      }
    } else {
      std::optional<R> out;
      try {
        out.emplace(co_await fn(tx));
        co_await tx.commit();
      } catch (...) {
        failed = std::current_exception();
      }
      if (!failed) co_return std::move(*out);
    }
    co_await tx.rollback();  // its locks go before any wait
    const auto wait = async_detail::retry_or_rethrow(c, failed, tx.committed(), attempt, opts.retry);
    if (wait.count() > 0) co_await async_detail::sleep(wait);
  }
}

namespace async_detail {

/// all()'s result: the error of the operation that failed first, else every value.
template <class Done, std::size_t... I>
auto all_values(Done& done, std::index_sequence<I...>) {
  for (std::size_t k : std::get<0>(done)) {
    std::exception_ptr error;
    ((k == I ? (void)(error = std::get<1 + 2 * I>(done)) : void()), ...);
    if (error) std::rethrow_exception(error);
  }
  return std::make_tuple(std::move(std::get<2 + 2 * I>(done))...);
}

}  // namespace async_detail

/// A query builder's SELECT, compiled for `c`'s dialect and run there as a
/// read: `co_await async_get(users, users.table("users").where("id", 7), use_awaitable)`.
/// (On a shard group: the overload below.)
template <class Token>
auto async_get(Connection& c, const QueryBuilder& q, Token&& token) {
  Query compiled = q.to_sql(c.grammar());
  return async_query(c, std::move(compiled.sql), std::move(compiled.bindings), Intent::read, std::forward<Token>(token));
}

/// The asynchronous twins of a builder's verbs on one connection: the
/// builder compiled for `c`'s dialect (refused as the blocking verb refuses
/// it: an update or delete without where() unless all() said so, bad names),
/// run as a read or a write, answered as the blocking verb answers.

/// QueryBuilder::first(): the first row (the LIMIT 1 form), or nullopt.
template <class Token>
auto async_first(Connection& c, const QueryBuilder& q, Token&& token) {
  QueryBuilder one = q;
  one.limit(1);
  Query sql = one.to_sql(c.grammar());
  return async_detail::initiate_as<std::optional<Record>>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::read, {}},
      [](Result r) { return r.empty() ? std::optional<Record>() : std::optional<Record>(Record(std::move(r))); },
      std::forward<Token>(token));
}
/// QueryBuilder::count(column).
template <class Token>
auto async_count(Connection& c, const QueryBuilder& q, std::string_view column, Token&& token) {
  Query sql = q.aggregate_sql(c.grammar(), "COUNT", column);
  return async_detail::initiate_as<std::int64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::read, {}},
      [](Result r) { return r.empty() ? std::int64_t{0} : r[0][0].as<std::int64_t>(); }, std::forward<Token>(token));
}
/// QueryBuilder::insert(row): the write's Result (rows changed, the engine's last id).
template <class Token>
auto async_insert(Connection& c, const QueryBuilder& q, const Fields& row, Token&& token) {
  Query sql = q.insert_sql(c.grammar(), {row});
  return async_query(c, std::move(sql.sql), std::move(sql.bindings), Intent::write, std::forward<Token>(token));
}
/// QueryBuilder::insert_get_id(row, id_column): the generated key.
template <class Token>
auto async_insert_get_id(Connection& c, const QueryBuilder& q, const Fields& row, std::string_view id_column,
                         Token&& token) {
  const Grammar& g = c.grammar();
  const std::string id(id_column);
  const bool returning = g.supports_returning();
  Query sql = returning ? q.insert_sql(g, {row}, std::span<const std::string>(&id, 1)) : q.insert_sql(g, {row});
  return async_detail::initiate_as<std::int64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::write, {}},
      [returning, id, table = q.table()](Result r) -> std::int64_t {
        if (returning && !r.empty()) return r[0][0].as<std::int64_t>();
        if (!returning && r.last_insert_id()) return *r.last_insert_id();
        throw UsageError("the engine reported no generated '" + id + "' for the insert into '" + table + "'");
      },
      std::forward<Token>(token));
}
/// QueryBuilder::update(fields): the rows changed.
template <class Token>
auto async_update(Connection& c, const QueryBuilder& q, const Fields& fields, Token&& token) {
  Query sql = q.update_sql(c.grammar(), fields);
  return async_detail::initiate_as<std::uint64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::write, {}}, [](Result r) { return r.affected_rows(); },
      std::forward<Token>(token));
}
/// QueryBuilder::remove(): the rows deleted.
template <class Token>
auto async_remove(Connection& c, const QueryBuilder& q, Token&& token) {
  Query sql = q.delete_sql(c.grammar());
  return async_detail::initiate_as<std::uint64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::write, {}}, [](Result r) { return r.affected_rows(); },
      std::forward<Token>(token));
}

/// QueryBuilder::increment(column, by, also): `column = column + by` (and
/// `also` set) where the builder says; the rows changed.
template <class Token>
auto async_increment(Connection& c, const QueryBuilder& q, std::string_view column, std::int64_t by, const Fields& also,
                     Token&& token) {
  Query sql = q.increment_sql(c.grammar(), column, by, also);
  return async_detail::initiate_as<std::uint64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::write, {}}, [](Result r) { return r.affected_rows(); },
      std::forward<Token>(token));
}
/// QueryBuilder::upsert(rows, unique_by, update): inserted, or updated where
/// `unique_by` matches a row already there; the rows the engine reports.
template <class Token>
auto async_upsert(Connection& c, const QueryBuilder& q, const std::vector<Fields>& rows,
                  const std::vector<std::string>& unique_by, const std::vector<std::string>& update, Token&& token) {
  Query sql = q.upsert_sql(c.grammar(), rows, unique_by, update);
  return async_detail::initiate_as<std::uint64_t>(
      c, {std::move(sql.sql), std::move(sql.bindings), Intent::write, {}}, [](Result r) { return r.affected_rows(); },
      std::forward<Token>(token));
}

namespace async_detail {
template <class T>
struct ModelQueryAccess {
  /// Where `q` reads: its connection (one statement) or its shard group
  /// (planned as get() plans it). What runs more than one query (with(),
  /// where_has()) and a query in a blocking Transaction are refused.
  static ReadPlan plan(const ModelQuery<T>& q, const QueryBuilder& b, std::string_view what) {
    if (q.m_extras.made() && (!q.m_extras->eager.empty() || !q.m_extras->deferred.empty()))
      throw UsageError(std::string(what) + " of model '" + std::string(T::schema.table()) +
                       "': with() and where_has() run more than one query, which the asynchronous API does not do "
                       "yet; use the blocking " + std::string(what) + "() on a thread of your own");
    Queryable* target = b.target();
    if (auto* g = dynamic_cast<ShardGroup*>(target)) return ReadPlan{nullptr, {}, g, b};
    auto* c = dynamic_cast<Connection*>(target);
    if (!c)
      throw UsageError(std::string(what) + " of model '" + std::string(T::schema.table()) +
                       "' runs in a blocking Transaction: run the transaction's statements through an "
                       "AsyncTransaction, or use the blocking " + std::string(what) + "()");
    Query sql = b.to_sql(c->grammar());
    return ReadPlan{c, {std::move(sql.sql), std::move(sql.bindings), Intent::read, {}}, nullptr, std::nullopt};
  }
  static const QueryBuilder& builder(const ModelQuery<T>& q) { return q.m_q; }
  static const std::string& origin(const ModelQuery<T>& q) { return *q.m_conn; }
};
}  // namespace async_detail

/// ModelQuery<T>::get(): the entities its read finds, on the model's
/// connection or across its shard group (planned and merged as get() does).
///   `auto adults = co_await async_get(people.where("age", ">=", 18).order_by("name"), use_awaitable);`
/// with() and where_has() are refused (their extra queries run on the blocking API only, for now).
template <class T, class Token>
auto async_get(ModelQuery<T> q, Token&& token) {
  using A = async_detail::ModelQueryAccess<T>;
  return async_detail::initiate_read_as<std::vector<Entity<T>>>(
      A::plan(q, A::builder(q), "get"),
      [origin = A::origin(q)](Result r) {
        std::vector<Entity<T>> out;
        out.reserve(r.size());
        for (Row row : r) detail::hydrate_row<T>(row, out.emplace_back(), origin);
        return out;
      },
      std::forward<Token>(token));
}
/// ModelQuery<T>::first(): the first entity (LIMIT 1), or nullopt.
template <class T, class Token>
auto async_first(ModelQuery<T> q, Token&& token) {
  using A = async_detail::ModelQueryAccess<T>;
  QueryBuilder one = A::builder(q);
  one.limit(1);
  return async_detail::initiate_read_as<std::optional<Entity<T>>>(
      A::plan(q, one, "first"),
      [origin = A::origin(q)](Result r) {
        std::optional<Entity<T>> e;
        if (!r.empty()) detail::hydrate_row<T>(r[0], e.emplace(), origin);
        return e;
      },
      std::forward<Token>(token));
}
/// Model<T>::all(): every entity of the model's table.
template <class T, class Token>
auto async_all(const Model<T>& model, Token&& token) {
  return async_get(model.query(), std::forward<Token>(token));
}

/// Model<T>::find(id): the row as an Entity, or nullopt. On the model's
/// connection with its compiled statement; a model on a shard group reads
/// where the key says (every member when the key is not the shard key).
template <class T, class Token>
auto async_find(const Model<T>& model, const Value& id, Token&& token) {
  using A = async_detail::ModelQueryAccess<T>;
  async_detail::ReadPlan plan;
  if (model.home().planning_target()) {
    ModelQuery<T> by_key = model.where(Model<T>::key_name(), id);
    QueryBuilder one = A::builder(by_key);
    one.limit(1);
    plan = A::plan(by_key, one, "find");
  } else {
    Connection& c = model.connection();
    plan.conn = &c;
    plan.args = {detail::find_sql<T>(c.grammar()), {id}, Intent::read, {}};
  }
  return async_detail::initiate_read_as<std::optional<Entity<T>>>(
      std::move(plan),
      [origin = model.connection_name()](Result r) {
        std::optional<Entity<T>> e;
        if (r.empty()) return e;
        detail::hydrate_row<T>(r[0], e.emplace(), origin);
        return e;
      },
      std::forward<Token>(token));
}

namespace async_detail {
/// The INSERT of a filled entity with the model's compiled statement: the
/// timestamps touched, its generated key read back (RETURNING, or the
/// engine's last id), the entity remembered as saved on the model's connection.
template <class T, class Token>
auto insert_entity(const Model<T>& model, Entity<T> e, Token&& token) {
  Connection& c = model.connection();
  detail::touch<T>(e, true);
  const bool generated = detail::key_is_generated<T>(e);
  const auto& compiled = detail::insert_sql<T>(c.grammar(), generated);
  std::vector<Value> values;
  T::schema.for_each([&](const auto& column, std::size_t i) {
    if (!(generated && i == T::schema.key_index())) values.emplace_back(e.*(column.member));
  });
  const bool returning = generated && !compiled.returning.empty();
  return initiate_as<Entity<T>>(
      c, {returning ? compiled.returning : compiled.plain, std::move(values), Intent::write, {}},
      [e = std::move(e), generated, returning, origin = model.connection_name()](Result r) mutable {
        if (generated) {
          std::int64_t id = 0;
          if (returning && !r.empty()) id = r[0][0].as<std::int64_t>();
          else if (!returning && r.last_insert_id()) id = *r.last_insert_id();
          else
            throw UsageError("the engine reported no generated id for the insert into '" +
                             std::string(T::schema.table()) + "'");
          detail::set_generated_key<T>(e, id);
        }
        detail::EntityAccess::remember(e, origin);
        return std::move(e);
      },
      std::forward<Token>(token));
}
/// Where a loaded entity's row lives: the connection it came from.
template <class T>
Connection& home_of(const Model<T>& model, const Entity<T>& e) {
  if (e.origin().empty() || e.origin() == model.connection_name()) return model.connection();
  return model.database().connection(e.origin());
}
}  // namespace async_detail

/// Model<T>::create(attributes) on the model's connection: the attributes
/// set (guarded or unknown ones refused at the call), timestamps touched,
/// the row inserted with the model's compiled INSERT, its generated key read
/// back (RETURNING, or the engine's last id), and the row as an Entity.
template <class T, class Token>
auto async_create(const Model<T>& model, const Fields& attributes, Token&& token) {
  Entity<T> e;
  detail::fill<T>(e, attributes);
  return async_detail::insert_entity(model, std::move(e), std::forward<Token>(token));
}

/// Model<T>::save(entity): a new entity inserted (its key read back into
/// it), a loaded one's changed columns updated on the connection it came
/// from (nothing sent when none changed; updated_at moves only when
/// something else did). `e` must outlive the await.
///   `u.name = "Ada"; co_await plexus::async_save(users, u);`
/// A model on a shard group is refused (its saves are blocking for now).
template <class T>
boost::asio::awaitable<void> async_save(const Model<T>& model, Entity<T>& e) {
  if (!e.exists()) {
    e = co_await async_detail::insert_entity(model, Entity<T>(e), boost::asio::use_awaitable);
    co_return;
  }
  Connection& c = async_detail::home_of(model, e);
  if (e.dirty().empty()) co_return;
  detail::touch<T>(e, false);
  Fields changed;
  T::schema.for_each([&](const auto& column, std::size_t) {
    if (detail::EntityAccess::changed(e, column)) changed.emplace_back(std::string(column.name), Value(e.*(column.member)));
  });
  QueryBuilder q(c, detail::schema_table<T>());
  q.where(Model<T>::key_name(), detail::EntityAccess::original_key(e));
  co_await async_update(c, q, changed, boost::asio::use_awaitable);
  detail::EntityAccess::remember(e, c.name());
}

/// Model<T>::remove(entity): its row deleted by key on the connection it
/// came from; true when a row was deleted. The entity no longer exists().
template <class T>
boost::asio::awaitable<bool> async_remove(const Model<T>& model, Entity<T>& e) {
  Connection& c = async_detail::home_of(model, e);
  QueryBuilder q(c, detail::schema_table<T>());
  q.where(Model<T>::key_name(), detail::key_of<T>(e));
  const std::uint64_t n = co_await async_remove(c, q, boost::asio::use_awaitable);
  detail::EntityAccess::forget(e);
  co_return n > 0;
}

/// Runs `fn(item)`, a coroutine, for each of `items` (a sized range with
/// operator[]), at most `limit` at once, on the caller's executor: a
/// bounded fan-out over many keys. The first to fail cancels the rest (their
/// statements are stopped on the server) and its error is thrown.
///   co_await plexus::for_each(user_ids, 8, [&](std::int64_t id) -> awaitable<void> { … });
template <class Items, class F>
boost::asio::awaitable<void> for_each(const Items& items, std::size_t limit, F fn) {
  if (limit == 0) throw UsageError("plexus::for_each: the limit of operations at once must be at least 1");
  const std::size_t n = std::size(items);
  if (n == 0) co_return;
  namespace x = boost::asio::experimental;
  auto io = co_await boost::asio::this_coro::executor;
  std::atomic<std::size_t> next{0};
  auto lane = [&]() -> boost::asio::awaitable<void> {
    for (std::size_t i = next++; i < n; i = next++) co_await fn(items[i]);
  };
  using Op = decltype(boost::asio::co_spawn(io, lane(), boost::asio::deferred));
  std::vector<Op> lanes;
  for (std::size_t k = 0; k < std::min(limit, n); ++k) lanes.push_back(boost::asio::co_spawn(io, lane(), boost::asio::deferred));
  auto [order, errors] =
      co_await x::make_parallel_group(std::move(lanes)).async_wait(x::wait_for_one_error(), boost::asio::use_awaitable);
  for (std::size_t k : order)
    if (errors[k]) std::rethrow_exception(errors[k]);
}


/// A query builder's read on a shard group, as get() runs it there: on the
/// member its key names, or planned over the members it may touch, which are
/// asked at once on the caller's loop (no thread per member; SQLite members
/// on the worker pool), and merged; refused as get() refuses. The first
/// member to fail cancels the others' statements and its error is the result.
///   `co_await async_get(db.shards("orders"), db.shards("orders").table("orders").order_by("total", "desc").limit(10), use_awaitable)`
template <class Token>
auto async_get(ShardGroup& g, const QueryBuilder& q, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, Result)>(
      [&g](auto handler, QueryBuilder b) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        async_detail::start_read(g, std::move(io), std::move(b), async_detail::ResultHandler(std::move(handler)));
      },
      token, QueryBuilder(q));
}

/// Writes through a shard group, routed as the blocking verbs route them.
/// What the group refuses (no shard key, a key change by increment, a write
/// that names no key without every_shard()) is thrown at the call, before
/// anything runs.

/// QueryBuilder::insert(row) on a group: on the member owning the row's key
/// (with its global id first, when the table has an id source).
template <class Token>
auto async_insert(ShardGroup& g, const QueryBuilder& q, const Fields& row, Token&& token) {
  Fields full = row;
  if (auto id = g.generated(q, full)) full.push_back(std::move(*id));
  Connection& owner = dynamic_cast<Connection&>(g.owner(q, full));
  return async_insert(owner, q, full, std::forward<Token>(token));
}
namespace async_detail {
/// Runs the members' writes at once on `io`; completes with the rows they changed, summed.
void start_writes(std::vector<std::pair<Connection*, Query>> writes, boost::asio::any_io_executor io,
                  boost::asio::any_completion_handler<void(std::exception_ptr, std::uint64_t)> handler);
template <class Token>
auto initiate_writes(std::vector<std::pair<Connection*, Query>> writes, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, std::uint64_t)>(
      [](auto handler, std::vector<std::pair<Connection*, Query>> w) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        start_writes(std::move(w), std::move(io), std::move(handler));
      },
      token, std::move(writes));
}
/// The members `q`'s write runs on, each with its statement in its dialect.
template <class Compile>
std::vector<std::pair<Connection*, Query>> member_writes(ShardGroup& g, const QueryBuilder& q, const Fields* set,
                                                         std::string_view what, Compile compile) {
  if (set && what == "update" && !g.key().empty())  // the group refuses a key change by increment itself
    for (const auto& field : *set)
      if (field.first == g.key())
        throw UsageError(std::string(what) + " of '" + q.table() + "' on shard group '" + g.name() +
                         "' changes the shard key '" + g.key() + "', which moves the row in a global transaction: "
                         "the asynchronous API does not run that yet; use the blocking update()");
  std::vector<std::pair<Connection*, Query>> out;
  for (SingleTarget* w : g.writers(q, set, what)) {
    auto& member = dynamic_cast<Connection&>(*w);
    out.emplace_back(&member, compile(member.grammar()));
  }
  return out;
}
}  // namespace async_detail
/// QueryBuilder::update(fields) on a group: on the member its key names, or
/// on every member when every_shard() asked for it (at once); the rows changed.
template <class Token>
auto async_update(ShardGroup& g, const QueryBuilder& q, const Fields& fields, Token&& token) {
  return async_detail::initiate_writes(
      async_detail::member_writes(g, q, &fields, "update", [&](const Grammar& dialect) { return q.update_sql(dialect, fields); }),
      std::forward<Token>(token));
}
/// QueryBuilder::remove() on a group, routed as async_update; the rows deleted.
template <class Token>
auto async_remove(ShardGroup& g, const QueryBuilder& q, Token&& token) {
  return async_detail::initiate_writes(
      async_detail::member_writes(g, q, nullptr, "delete", [&](const Grammar& dialect) { return q.delete_sql(dialect); }),
      std::forward<Token>(token));
}

/// QueryBuilder::increment(column, by, also) on a group: routed as
/// async_update (a key change by increment is refused, as on the blocking API).
template <class Token>
auto async_increment(ShardGroup& g, const QueryBuilder& q, std::string_view column, std::int64_t by, const Fields& also,
                     Token&& token) {
  Fields set = also;
  set.emplace_back(std::string(column), Value());
  return async_detail::initiate_writes(
      async_detail::member_writes(g, q, &set, "increment",
                                  [&](const Grammar& dialect) { return q.increment_sql(dialect, column, by, also); }),
      std::forward<Token>(token));
}
/// QueryBuilder::upsert(rows, unique_by, update) on a group: each row on the
/// member owning its key (with its global id first, when the table has an
/// id source), one statement per member, the members at once; the rows the
/// engines report, summed.
template <class Token>
auto async_upsert(ShardGroup& g, const QueryBuilder& q, const std::vector<Fields>& rows,
                  const std::vector<std::string>& unique_by, const std::vector<std::string>& update, Token&& token) {
  std::vector<std::pair<Connection*, std::vector<Fields>>> parts;
  for (const auto& row : rows) {
    Fields full = row;
    if (auto id = g.generated(q, full)) full.push_back(std::move(*id));
    Connection* owner = &dynamic_cast<Connection&>(g.owner(q, full));
    auto it = std::find_if(parts.begin(), parts.end(), [&](const auto& p) { return p.first == owner; });
    if (it == parts.end()) it = parts.insert(parts.end(), {owner, {}});
    it->second.push_back(std::move(full));
  }
  std::vector<std::pair<Connection*, Query>> writes;
  for (auto& [owner, part] : parts) writes.emplace_back(owner, q.upsert_sql(owner->grammar(), part, unique_by, update));
  return async_detail::initiate_writes(std::move(writes), std::forward<Token>(token));
}

namespace async_detail {
using HealthHandler = boost::asio::any_completion_handler<void(std::exception_ptr, ConnectionHealth)>;
/// Runs `c.health()` on the connection's worker pool, completing on `io`.
void start_health(Connection& c, boost::asio::any_io_executor io, HealthHandler handler);
}  // namespace async_detail

/// Connection::health(): the primary and each replica probed (a session
/// taken, pinged, its version; a replica's lag and readiness; a primary gone
/// followed to a promoted one), reported as the blocking call reports them.
/// A probe is several engine calls, some only blocking (lag, Galera state),
/// so it runs on the connection's worker pool; the loop serves meanwhile.
template <class Token>
auto async_health(Connection& c, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, ConnectionHealth)>(
      [&c](auto handler) {
        boost::asio::any_io_executor io =
            boost::asio::get_associated_executor(handler, default_io_context().get_executor());
        async_detail::start_health(c, std::move(io), async_detail::HealthHandler(std::move(handler)));
      },
      token);
}

/// Database::health(): every connection probed at once (the blocking call
/// probes them one after another), in the configuration's order. A
/// connection whose server does not answer costs its connect timeout, not
/// the sum of everyone's.
[[nodiscard]] boost::asio::awaitable<std::vector<ConnectionHealth>> async_health(ConnectionRegistry& db);

/// Awaits every operation at once (the seed's `Promise.all`): their results
/// as a tuple, in order. The first to fail cancels the others (their
/// statements are stopped on the server) and its error is thrown.
template <class... T>
boost::asio::awaitable<std::tuple<T...>> all(boost::asio::awaitable<T>... ops) {
  static_assert(sizeof...(T) >= 1 && (!std::is_void_v<T> && ...), "plexus::all awaits operations that return values");
  namespace x = boost::asio::experimental;
  auto io = co_await boost::asio::this_coro::executor;
  auto done = co_await x::make_parallel_group(boost::asio::co_spawn(io, std::move(ops), boost::asio::deferred)...)
                  .async_wait(x::wait_for_one_error(), boost::asio::use_awaitable);
  co_return async_detail::all_values(done, std::index_sequence_for<T...>());
}

}  // namespace plexus

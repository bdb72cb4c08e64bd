// The asynchronous API (include/plexus/async.hpp): a statement routed with
// the router's own walk (plan, take a session, accept), its session taken
// from the pool without blocking, and run on the engine's non-blocking side
// with the executor's hooks and metrics around it, or on a worker when the
// session has no non-blocking side.
#include "plexus/async.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "db/connection_core.hpp"
#include "db/executor.hpp"
#include "db/router.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

/// The io_context of default_io_context(), on a thread of its own.
/// The io_context of default_io_context(). Its thread runs only while there
/// is work (started again by the next operation): a thread that lingered
/// until exit would outlive the engines' TLS libraries' own clean-up.
struct DefaultLoop {
  asio::io_context io;
  std::mutex mutex;
  std::thread thread;
  /// After work was added: a thread runs the loop (a new one when the last
  /// ran out of work and stopped; work added after that waits for this).
  void ensure_running() {
    std::lock_guard lock(mutex);
    if (thread.joinable() && !io.stopped()) return;
    if (thread.joinable()) thread.join();
    io.restart();
    thread = std::thread([this] { io.run(); });
  }
  ~DefaultLoop() {
    std::lock_guard lock(mutex);
    if (thread.joinable()) thread.join();
  }
};

DefaultLoop& default_loop() {
  static DefaultLoop loop;
  return loop;
}

/// Where a connection's blocking steps run: statements of sessions without
/// a non-blocking side (SQLite, MariaDB over TLS), connecting, a fail-over
/// search. Bounded (at most 4 threads, and no more than the pool's
/// sessions), whatever the number of statements awaiting; owned by the
/// connection, so its threads end with the Database.
asio::thread_pool& workers(detail::ConnectionCore& core) {
  std::lock_guard lock(core.async_mutex);
  if (!core.async_state)
    core.async_state = std::make_shared<asio::thread_pool>(std::clamp<std::size_t>(core.cfg.pool.max, 1, 4));
  return *static_cast<asio::thread_pool*>(core.async_state.get());
}

/// The caller's executor, holding its io_context's work: another thread that
/// completes something there keeps the loop (and so the io_context) alive
/// until its post() has returned, not only until the handler ran.
template <class Executor>
auto keeping_work(const Executor& io) {
  return asio::prefer(io, asio::execution::outstanding_work.tracked);
}

/// Runs `f` on a worker; resumes the caller on its own executor with the result or the error.
template <class R, class F>
awaitable<R> on_worker(detail::ConnectionCore& core, F f) {
  co_return co_await asio::async_initiate<decltype(use_awaitable), void(std::exception_ptr, R)>(
      [&core](auto handler, F fn) {
        auto io = keeping_work(asio::get_associated_executor(handler));
        asio::post(workers(core), [fn = std::move(fn), handler = std::move(handler), io = std::move(io)]() mutable {
          std::exception_ptr error;
          R out{};
          try {
            out = fn();
          } catch (...) {
            error = std::current_exception();
          }
          auto back = std::move(io);  // released after post() returns
          asio::post(back, [handler = std::move(handler), error, out = std::move(out)]() mutable {
            std::move(handler)(error, std::move(out));
          });
        });
      },
      use_awaitable, std::move(f));
}

using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

/// A new session in the slot the pool kept: opened on the loop when the
/// engine can (PostgreSQL: PQconnectStart and PQconnectPoll, waiting on the
/// socket here; the connect's deadline a timer), else on a worker.
awaitable<Pool::Lease> open(detail::ConnectionCore& core, Pool& pool, std::chrono::steady_clock::time_point deadline) {
  std::unique_ptr<driver::PendingSession> pending = pool.start_reserved();
  if (!pending) co_return co_await on_worker<Pool::Lease>(core, [&pool, deadline] { return pool.open_reserved(deadline); });
  auto io = co_await asio::this_coro::executor;
  using namespace asio::experimental::awaitable_operators;
  std::exception_ptr given_up;
  try {
    asio::posix::stream_descriptor socket(io);
    asio::steady_timer limit(io, pending->deadline());
    const bool bounded = pending->deadline() != std::chrono::steady_clock::time_point::max();
    for (driver::AsyncSession::Wait wait = pending->start(); wait != driver::AsyncSession::Wait::done;) {
      socket.assign(pending->socket());  // it may change from one poll to the next
      const auto kind = wait == driver::AsyncSession::Wait::read ? asio::posix::descriptor_base::wait_read
                                                                 : asio::posix::descriptor_base::wait_write;
      bool expired = false;
      try {
        if (bounded) {
          auto first = co_await (socket.async_wait(kind, use_awaitable) || limit.async_wait(use_awaitable));
          expired = first.index() == 1;
        } else {
          co_await socket.async_wait(kind, use_awaitable);
        }
      } catch (...) {
        (void)socket.release();  // the pending session owns it
        throw;
      }
      (void)socket.release();
      if (expired) break;  // finish() says it timed out
      wait = pending->poll();
    }
  } catch (...) {
    given_up = std::current_exception();  // cancelled while connecting
  }
  if (given_up) {
    pending.reset();  // closes the half-open connection
    pool.abandon_reserved();
    std::rethrow_exception(given_up);
  }
  co_return pool.finish_reserved(*pending);
}

/// A session from `pool` without blocking the loop: one idle now, a new one
/// opened on a worker, or the next one given back, handed to this waiter
/// by the pool in the order the waits began (until the pool's
/// acquire_timeout, then the same TimeoutError as the blocking acquire).
awaitable<Pool::Lease> acquire(detail::ConnectionCore& core, Pool& pool) {
  const std::chrono::milliseconds timeout = core.cfg.pool.acquire_timeout;
  auto io = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // What the wake brought, shared with the thread that gives a session back.
  struct Waiting {
    std::mutex mutex;
    bool gone = false;    ///< the coroutine stopped waiting (timed out, cancelled)
    bool called = false;  ///< the wake came
    Pool::Lease lease;    ///< the session it brought (empty: a slot was freed, look again)
  };
  for (;;) {
    Pool::Ready ready = pool.acquire_or_wait({});  // the common case: a session now, nothing made to wait with
    if (ready.lease) co_return std::move(ready.lease);
    if (ready.open) co_return co_await open(core, pool, deadline);
    auto woken = std::make_shared<Channel>(io, 1);
    auto waiting = std::make_shared<Waiting>();
    // The wake comes from the thread that gives a session back; it keeps the
    // loop's work while registered (the coroutine waits meanwhile anyway).
    ready = pool.acquire_or_wait([woken, waiting, &pool, work = keeping_work(io)](Pool::Lease lease) {
      std::unique_lock lock(waiting->mutex);
      if (waiting->gone) {  // nobody to take it: a session goes back when `lease` goes, a freed slot to the next
        lock.unlock();
        if (!lease) pool.wake_next();
        return;
      }
      waiting->called = true;
      waiting->lease = std::move(lease);
      lock.unlock();
      (void)woken->try_send(boost::system::error_code());
    });
    if (ready.lease) co_return std::move(ready.lease);
    if (ready.open) co_return co_await open(core, pool, deadline);
    // One channel gets the wake or the deadline (the timer sends timed_out
    // into it): no coroutine per waiter besides this one.
    asio::steady_timer timer(io, deadline);
    timer.async_wait([woken](boost::system::error_code ec) {
      if (!ec) (void)woken->try_send(asio::error::timed_out);
    });
    std::exception_ptr cancelled;
    boost::system::error_code why;
    try {
      std::tie(why) = co_await woken->async_receive(asio::as_tuple(use_awaitable));
    } catch (...) {
      cancelled = std::current_exception();
    }
    timer.cancel();
    std::unique_lock lock(waiting->mutex);
    if (!cancelled && !why) {
      Pool::Lease handed = std::move(waiting->lease);
      lock.unlock();
      if (handed) co_return std::move(handed);
      continue;  // a slot was freed: look again
    }
    // Timed out or cancelled: withdraw the wait; a wake that came meanwhile is handed on.
    waiting->gone = true;
    Pool::Lease handed = std::move(waiting->lease);
    const bool called = waiting->called;
    lock.unlock();
    if (handed) handed.release();  // to the next waiter
    else if (called) pool.wake_next();
    else (void)pool.cancel_wait(ready.waiter);  // or its wake, still to come, sees `gone`
    if (cancelled) std::rethrow_exception(cancelled);
    if (why == asio::error::timed_out) throw pool.wait_timed_out();
    throw boost::system::system_error(why);  // the receive was cancelled
  }
}

/// The rows a statement reports to the hooks.
std::uint64_t rows_of(const Result& r) { return r.columns().size() ? r.size() : r.affected_rows(); }

/// Runs `s` on a worker (a session without a non-blocking side: SQLite,
/// MariaDB over TLS). A cancellation while it runs interrupts it
/// (Session::interrupt, from a thread of its own: the workers may all be
/// busy), and the session is closed.
awaitable<void> run_blocking(detail::ConnectionCore& core, const detail::RunContext& at, Pool::Lease& lease,
                             const Statement& s) {
  detail::Executor& exec = core.exec;
  struct Running {
    std::mutex mutex;
    bool on = false;
    bool cancelled = false;
  };
  auto state = std::make_shared<Running>();
  driver::Session* session = &*lease;
  asio::cancellation_slot slot = (co_await asio::this_coro::cancellation_state).slot();
  if (slot.is_connected())
    slot.assign([state, session](asio::cancellation_type) {
      std::thread([state, session] {
        std::lock_guard lock(state->mutex);
        state->cancelled = true;
        if (state->on) session->interrupt();  // the session exists while its statement runs
      }).detach();
    });
  std::exception_ptr error;
  (void)co_await on_worker<int>(core, [&] {
    {
      std::lock_guard lock(state->mutex);
      state->on = !state->cancelled;
    }
    if (state->on) {
      try {
        (void)exec.run(lease, at, s);
      } catch (...) {
        error = std::current_exception();
      }
    }
    std::lock_guard lock(state->mutex);
    state->on = false;
    return 0;
  });
  if (slot.is_connected()) slot.clear();
  bool cancelled;
  {
    std::lock_guard lock(state->mutex);
    cancelled = state->cancelled;
  }
  if (cancelled && (error || !lease)) {
    if (lease) lease.discard();
    throw boost::system::system_error(asio::error::operation_aborted);
  }
  if (error) std::rethrow_exception(error);
}

/// After the caller cancelled a wait while `lease`'s session had a statement
/// in flight: the server is asked to stop it (a blocking request, on a
/// worker) and the session is closed, never handed out again mid-statement.
/// The operation completes after this, so nothing outlives the caller's wait.
/// (The caller resets its cancellation state first: a coroutine whose
/// cancellation was asked throws at its next co_await, this one included.)
awaitable<void> stop_in_flight(detail::ConnectionCore& core, Pool::Lease& lease) {
  (void)co_await on_worker<int>(core, [&] {
    try {
      if (lease) lease->async()->cancel();
    } catch (...) {
      // Closing the session below ends the statement anyway.
    }
    lease.discard();
    return 0;
  });
}

/// Waits on `socket` for what the session's step asks until it answers
/// Wait::done; the error of the wait when the caller cancelled it.
awaitable<std::exception_ptr> drive(asio::posix::stream_descriptor& socket, driver::AsyncSession& side, driver::AsyncSession::Wait wait) {
  using Wait = driver::AsyncSession::Wait;
  if (wait != Wait::done && !socket.is_open()) socket.assign(side.socket());
  while (wait != Wait::done) {
    try {
      co_await socket.async_wait(wait == Wait::read ? asio::posix::descriptor_base::wait_read
                                                    : asio::posix::descriptor_base::wait_write,
                                 use_awaitable);
    } catch (const boost::system::system_error&) {
      co_return std::current_exception();  // cancelled by the caller
    }
    wait = side.resume();
  }
  co_return nullptr;
}

/// Runs `s` (a statement, or a batch) on the session of `lease`: on its
/// non-blocking side, waiting on its socket in the loop, or on a worker. A
/// batch goes in one pipeline where the engine has one, else its statements
/// one after another on the loop; the hooks see it once, as on the blocking API.
awaitable<void> run_statement(detail::ConnectionCore& core, const detail::RunContext& at, Pool::Lease& lease,
                              const Statement& s) {
  detail::Executor& exec = core.exec;
  driver::AsyncSession* side = lease->async();
  if (!side) {
    co_await run_blocking(core, at, lease, s);
    co_return;
  }
  auto io = co_await asio::this_coro::executor;
  detail::Executor::Started started = exec.start(at, s.sql, s.params, s.intent);
  asio::posix::stream_descriptor socket(io);
  const bool batch = s.kind == Statement::Kind::batch;
  std::exception_ptr aborted;
  try {
    std::uint64_t rows = 0;
    if (!batch) {
      aborted = co_await drive(socket, *side, side->start(s.sql, s.params));
      if (!aborted) {
        *s.result = side->take();
        rows = rows_of(*s.result);
      }
    } else if (side->pipelines_batches()) {
      aborted = co_await drive(socket, *side, side->start_batch(s.sql, s.sets));
      if (!aborted) *s.results = side->take_batch();
    } else {
      s.results->clear();
      s.results->reserve(s.sets.size());
      for (const auto& set : s.sets) {
        aborted = co_await drive(socket, *side, side->start(s.sql, set));
        if (aborted) break;
        s.results->push_back(side->take());
      }
    }
    if (socket.is_open()) (void)socket.release();  // the session owns the socket
    if (!aborted) {
      if (batch)
        for (const auto& r : *s.results) rows += rows_of(r);
      exec.finish(started, at, s.intent, rows);
      co_return;
    }
  } catch (Error& e) {
    if (socket.is_open()) (void)socket.release();
    exec.fail(started, e, lease, at, s.sql, s.params, s.intent);
    throw;
  }
  co_await asio::this_coro::reset_cancellation_state();
  co_await stop_in_flight(core, lease);  // cancelled with the statement in flight
  std::rethrow_exception(aborted);
}

/// A transaction's step (`what`: BEGIN, COMMIT, ROLLBACK, as the hooks see
/// it) on the session's non-blocking side: its statements sent one after
/// another, waited on in the loop, with the hooks and metrics of the
/// blocking step. False when the session has no such side or the engine no
/// text for the step: the caller runs the blocking step on a worker. A
/// connection error discards the session (and any error, with
/// `discard_on_error`: after a failed COMMIT or ROLLBACK its state is unknown).
awaitable<bool> control_on_loop(detail::ConnectionCore& core, const detail::RunContext& at, Pool::Lease& lease,
                                std::string_view what, driver::Session::TxStep step, const driver::TransactionSpec& spec,
                                bool discard_on_error) {
  driver::AsyncSession* side = lease->async();
  if (!side) co_return false;
  const std::vector<std::string> statements = lease->transaction_sql(step, spec);
  if (statements.empty()) co_return false;
  detail::Executor& exec = core.exec;
  detail::Executor::Started started = exec.start(at, what, {}, Intent::write);
  asio::posix::stream_descriptor socket(co_await asio::this_coro::executor);
  std::exception_ptr aborted;
  try {
    for (const auto& sql : statements) {
      aborted = co_await drive(socket, *side, side->start_control(sql));
      if (aborted) break;
      side->take_control();
    }
    if (socket.is_open()) (void)socket.release();
    if (!aborted) {
      exec.finish(started, at, Intent::write, 0);
      co_return true;
    }
  } catch (Error& e) {
    if (socket.is_open()) (void)socket.release();
    exec.fail(started, e, lease, at, what, {}, Intent::write);
    if (discard_on_error && lease) lease.discard();
    throw;
  }
  // Cancelled mid-step (the server rolls back whatever it had begun).
  co_await asio::this_coro::reset_cancellation_state();
  co_await stop_in_flight(core, lease);
  std::rethrow_exception(aborted);
}

/// A session on the next host of `route` that takes it (the router's walk:
/// plan, take a session without blocking, accept), as Route::next() does.
awaitable<detail::Attempt> take(detail::ConnectionCore& core, detail::Router::Route& route, const Statement& s) {
  for (;;) {
    detail::Leg leg = route.plan();
    Pool::Lease lease;
    std::exception_ptr not_taken;
    try {
      lease = co_await acquire(core, *leg.pool);
    } catch (Error& e) {
      if (!leg.replica) core.exec.report_acquire_failure(e, *leg.pool, leg.reason, s.sql, s.params, s.intent);
      not_taken = std::current_exception();
    }
    if ((not_taken && !leg.replica && core.router.follows_failover()) || (!not_taken && route.accept_may_wait())) {
      // A fail-over search (it asks every candidate and may wait for a
      // promotion) or a causal wait: on a worker, not on the loop.
      const bool accepted = co_await on_worker<bool>(core, [&] {
        try {
          if (not_taken) std::rethrow_exception(not_taken);
          return route.accept(leg, lease);
        } catch (const Error& e) {
          route.acquire_failed(leg, e);  // throws when the walk ends
          return false;
        }
      });
      if (!accepted) continue;
    } else {
      try {
        if (not_taken) std::rethrow_exception(not_taken);
        if (!route.accept(leg, lease)) continue;
      } catch (const Error& e) {
        route.acquire_failed(leg, e);  // throws when the walk ends
        continue;
      }
    }
    co_return detail::Attempt{*leg.pool, std::move(lease), leg.reason, std::move(leg.in_flight)};
  }
}

/// A statement (or a read batch) through the router's walk, as ConnectionCore::run does it.
awaitable<void> run_routed(detail::ConnectionCore& core, const Statement& s, const RouteOptions& options) {
  core.exec.refuse_if_read_only(s.sql, s.intent, core.primary());
  detail::Router::Route route(core.router, s, options);
  for (;;) {
    detail::Attempt attempt = co_await take(core, route, s);
    try {
      co_await run_statement(core, detail::RunContext{attempt.pool, attempt.reason}, attempt.lease, s);
      route.succeeded(attempt);
      co_return;
    } catch (const Error& e) {
      if (!route.failed(attempt, e)) throw;
    }
  }
}

/// One statement through the router's walk.
awaitable<Result> run(detail::ConnectionCore& core, async_detail::QueryArgs args) {
  Result out;
  Statement s;
  s.kind = Statement::Kind::query;
  s.sql = args.sql;
  s.params = args.params;
  s.intent = args.intent;
  s.result = &out;
  co_await run_routed(core, s, args.route);
  co_return out;
}

}  // namespace

struct AsyncCursor::State {
  detail::ConnectionCore* core = nullptr;
  std::string sql;
  std::vector<Value> params;
  Intent intent = Intent::read;
  const Pool* pool = nullptr;
  std::string reason;                 ///< the route's, kept for the events
  Pool::Lease lease;                  ///< streaming on the loop: the session
  detail::InFlight in_flight;         ///< a replica counts the cursor until it ends
  detail::Executor::Started started;  ///< the hooks' event, finished at the end
  Result pending;                     ///< rows read while opening, for the first next()
  Columns columns;                    ///< for the empty Result after the end
  std::optional<Cursor> blocking;     ///< no stream on the loop: the blocking one, pulled on a worker
  std::uint64_t rows = 0;
  bool ended = false;

  [[nodiscard]] detail::RunContext context() const { return {*pool, reason}; }
  /// The stream is over (read to its end, failed or cancelled): the session
  /// goes back (or, `discard`, is closed), the replica stops counting it.
  void end(bool discard) {
    ended = true;
    if (discard && lease) lease.discard();
    lease.release();
    in_flight = detail::InFlight();
  }
};

struct AsyncTransaction::State {
  Connection* conn;
  detail::ConnectionCore* core;
  Pool::Lease lease;
  std::uint64_t id;
  unsigned attempt;
  bool active;
  bool committed;

  void check_active() const {
    if (!active)
      throw UsageError("transaction " + std::to_string(id) + " on connection '" + core->cfg.name +
                       "' is already committed or rolled back");
    if (!lease) {
      ConnectionError e("the session of transaction " + std::to_string(id) +
                        " was closed (a lost connection, or a cancelled statement); the server rolled it back, so "
                        "nothing of it was committed");
      e.add_context({core->cfg.name, core->primary().host(), "primary", {}});
      e.set_hint("run the whole transaction again");
      throw e;
    }
  }
  [[nodiscard]] detail::RunContext context() const { return {core->primary(), "transaction", id, attempt}; }
};

asio::io_context& default_io_context() { return default_loop().io; }

namespace async_detail {

namespace {

/// Starts `op` on `io`, completing `handler`. Asio's system context runs
/// handlers on threads of its own that live until exit (after the engines'
/// libraries have cleaned up): the sockets are then waited on in Plexus's
/// own loop instead, and the handler still completes through its executor.
template <class T, class Handler>
void spawn(asio::any_io_executor io, awaitable<T> op, Handler handler) {
  const bool own_loop = &asio::query(io, asio::execution::context) == &asio::query(asio::system_executor(), asio::execution::context) ||
                        &asio::query(io, asio::execution::context) == &default_io_context();
  if (own_loop) io = default_io_context().get_executor();
  asio::co_spawn(std::move(io), std::move(op), std::move(handler));
  if (own_loop) default_loop().ensure_running();
}

/// One statement for each of several connections, run at once on this loop
/// (one alone is simply awaited); their Results in order. The first error
/// is thrown: with `cancel_on_error` the others are cancelled (a read),
/// else each runs to its end (writes, each committing on its own).
awaitable<std::vector<Result>> run_each_at_once(std::vector<std::pair<Connection*, QueryArgs>> statements,
                                               bool cancel_on_error) {
  std::vector<Result> out;
  if (statements.size() == 1) {
    out.push_back(co_await run(detail::core_of(*statements.front().first), std::move(statements.front().second)));
    co_return out;
  }
  auto io = co_await asio::this_coro::executor;
  using Op = decltype(asio::co_spawn(io, run(std::declval<detail::ConnectionCore&>(), QueryArgs{}), asio::deferred));
  std::vector<Op> ops;
  ops.reserve(statements.size());
  for (auto& [conn, args] : statements)
    ops.push_back(asio::co_spawn(io, run(detail::core_of(*conn), std::move(args)), asio::deferred));
  namespace x = asio::experimental;
  std::vector<std::size_t> order;
  std::vector<std::exception_ptr> errors;
  if (cancel_on_error)
    std::tie(order, errors, out) =
        co_await x::make_parallel_group(std::move(ops)).async_wait(x::wait_for_one_error(), asio::use_awaitable);
  else
    std::tie(order, errors, out) =
        co_await x::make_parallel_group(std::move(ops)).async_wait(x::wait_for_all(), asio::use_awaitable);
  for (std::size_t k : order)
    if (errors[k]) std::rethrow_exception(errors[k]);  // the first to fail
  co_return out;
}

/// A builder's read on a shard group: planned as get() plans it, the members
/// asked at once on this loop (the first error cancels the others), merged.
awaitable<Result> read_group(ShardGroup& g, QueryBuilder q) {
  ShardScatter plan = g.plan_read(q);
  std::vector<std::pair<Connection*, QueryArgs>> reads;
  for (const auto& p : plan.parts()) reads.push_back({p.member, {p.query.sql, p.query.bindings, Intent::read, {}}});
  co_return plan.merge(co_await run_each_at_once(std::move(reads), true));
}

/// The members' writes at once on this loop; the rows they changed, summed.
awaitable<std::uint64_t> write_members(std::vector<std::pair<Connection*, Query>> writes) {
  std::vector<std::pair<Connection*, QueryArgs>> statements;
  for (auto& [conn, q] : writes) statements.push_back({conn, {std::move(q.sql), std::move(q.bindings), Intent::write, {}}});
  std::uint64_t n = 0;
  for (const auto& r : co_await run_each_at_once(std::move(statements), false)) n += r.affected_rows();
  co_return n;
}

/// A batch: a read through the router's walk, a write in a transaction of its own.
awaitable<std::vector<Result>> run_batch(Connection& c, BatchArgs args) {
  if (args.intent == Intent::write)
    co_return co_await async_transaction(c, [&args](AsyncTransaction& tx) -> awaitable<std::vector<Result>> {
      co_return co_await tx.batch(std::move(args.sql), std::move(args.sets), Intent::write);
    });
  std::vector<Result> out;
  Statement s;
  s.kind = Statement::Kind::batch;
  s.sql = args.sql;
  s.sets = args.sets;
  s.intent = args.intent;
  s.results = &out;
  co_await run_routed(detail::core_of(c), s, args.route);
  co_return out;
}

}  // namespace

namespace {
/// The stream's next rows on its session's non-blocking side (the loop).
awaitable<Result> stream_rows(AsyncCursor::State& st) {
  driver::AsyncSession& side = *st.lease->async();
  asio::posix::stream_descriptor socket(co_await asio::this_coro::executor);
  std::exception_ptr aborted;
  try {
    for (;;) {
      Result rows;
      const bool end = side.take_rows(rows);
      st.rows += rows.size();
      if (end) {
        st.core->exec.finish(st.started, st.context(), st.intent, st.rows);
        st.end(false);
      }
      if (end || !rows.empty()) {
        if (socket.is_open()) (void)socket.release();
        if (rows.columns().size()) st.columns = rows.columns();
        co_return rows;
      }
      aborted = co_await drive(socket, side, side.resume());
      if (aborted) break;
    }
  } catch (Error& e) {
    if (socket.is_open()) (void)socket.release();
    st.core->exec.fail(st.started, e, st.lease, st.context(), st.sql, st.params, st.intent);
    st.end(false);  // fail() closed a broken session
    throw;
  }
  if (socket.is_open()) (void)socket.release();
  co_await asio::this_coro::reset_cancellation_state();
  co_await stop_in_flight(*st.core, st.lease);  // cancelled mid-stream
  st.end(true);
  std::rethrow_exception(aborted);
}

/// Rows pulled from a blocking cursor on a worker (at most this many per next()).
constexpr std::size_t kPulledRows = 512;
}  // namespace

awaitable<AsyncCursor> open_cursor(Connection& c, std::string sql, std::vector<Value> params, Intent intent,
                                   RouteOptions options) {
  detail::ConnectionCore& core = detail::core_of(c);
  auto st = std::make_unique<AsyncCursor::State>();
  st->core = &core;
  st->sql = std::move(sql);
  st->params = std::move(params);
  st->intent = intent;
  std::optional<Cursor> opened;
  Statement s;
  s.kind = Statement::Kind::cursor;
  s.sql = st->sql;
  s.params = st->params;
  s.intent = intent;
  s.cursor = &opened;
  core.exec.refuse_if_read_only(s.sql, s.intent, core.primary());
  detail::Router::Route route(core.router, s, options);
  for (;;) {
    detail::Attempt attempt = co_await take(core, route, s);
    st->pool = &attempt.pool;
    st->reason.assign(attempt.reason);
    driver::AsyncSession* side = attempt.lease->async();
    if (!side || !side->streams()) {
      // The blocking stream, opened on a worker (its hooks fire when it ends).
      std::exception_ptr failed;
      (void)co_await on_worker<int>(core, [&] {
        try {
          (void)core.exec.run(attempt.lease, st->context(), s, &attempt.in_flight);
        } catch (const Error&) {
          failed = std::current_exception();
        }
        return 0;
      });
      if (failed) {
        try {
          std::rethrow_exception(failed);
        } catch (const Error& e) {
          if (!route.failed(attempt, e)) throw;
          continue;
        }
      }
      st->blocking.emplace(std::move(*opened));
      co_return AsyncCursor(std::move(st));
    }
    // On the loop: sent, and read until the first rows (or the error) arrive.
    st->started = core.exec.start(st->context(), st->sql, st->params, intent);
    asio::posix::stream_descriptor socket(co_await asio::this_coro::executor);
    std::exception_ptr aborted;
    try {
      aborted = co_await drive(socket, *side, side->start_stream(st->sql, st->params));
      if (socket.is_open()) (void)socket.release();
      if (!aborted) {
        const bool end = side->take_rows(st->pending);
        st->rows = st->pending.size();
        st->lease = std::move(attempt.lease);
        st->in_flight = std::move(attempt.in_flight);
        if (end) {
          core.exec.finish(st->started, st->context(), intent, st->rows);
          st->end(false);
        }
        co_return AsyncCursor(std::move(st));
      }
    } catch (Error& e) {
      if (socket.is_open()) (void)socket.release();
      core.exec.fail(st->started, e, attempt.lease, st->context(), st->sql, st->params, intent);
      if (!route.failed(attempt, e)) throw;
      continue;
    }
    co_await asio::this_coro::reset_cancellation_state();
    co_await stop_in_flight(core, attempt.lease);  // cancelled while opening
    std::rethrow_exception(aborted);
  }
}

void start_health(Connection& c, asio::any_io_executor io, HealthHandler handler) {
  detail::ConnectionCore& core = detail::core_of(c);
  spawn(std::move(io), on_worker<ConnectionHealth>(core, [&c] { return c.health(); }), std::move(handler));
}

void start_batch(Connection& c, asio::any_io_executor io, BatchArgs args, BatchHandler handler) {
  spawn(std::move(io), run_batch(c, std::move(args)), std::move(handler));
}

void start_query(Connection& c, asio::any_io_executor io, QueryArgs args, ResultHandler handler) {
  spawn(std::move(io), run(detail::core_of(c), std::move(args)), std::move(handler));
}

void start_read(ShardGroup& g, asio::any_io_executor io, QueryBuilder q, ResultHandler handler) {
  spawn(std::move(io), read_group(g, std::move(q)), std::move(handler));
}

void start_writes(std::vector<std::pair<Connection*, Query>> writes, asio::any_io_executor io,
                  asio::any_completion_handler<void(std::exception_ptr, std::uint64_t)> handler) {
  spawn(std::move(io), write_members(std::move(writes)), std::move(handler));
}

awaitable<AsyncTransaction> begin(Connection& c, TransactionOptions opts, unsigned attempt) {
  detail::ConnectionCore& core = detail::core_of(c);
  Statement s;
  s.sql = "BEGIN";
  s.intent = Intent::write;
  detail::Router::Route route(core.router, s, RouteOptions{});
  detail::Attempt leg = co_await take(core, route, s);  // the primary, fail-over followed
  const std::uint64_t id = ++core.tx_counter;
  const detail::RunContext at{core.primary(), "transaction", id, attempt};
  const driver::TransactionSpec spec{opts.isolation, opts.read_only};
  if (!co_await control_on_loop(core, at, leg.lease, "BEGIN", driver::Session::TxStep::begin, spec, false))
    (void)co_await on_worker<int>(core, [&] {
      detail::begin_step(core, leg.lease, opts, id, attempt);
      return 0;
    });
  co_return AsyncTransaction(std::make_unique<AsyncTransaction::State>(
      AsyncTransaction::State{&c, &core, std::move(leg.lease), id, attempt, true, false}));
}

std::chrono::microseconds retry_or_rethrow(Connection& c, const std::exception_ptr& failed, bool committed,
                                           unsigned attempt, const RetryPolicy& policy) {
  try {
    std::rethrow_exception(failed);
  } catch (const Error& e) {
    if (!detail::may_retry(e, committed, attempt, policy)) throw;
    return detail::retry_wait(c, e, attempt, policy);
  }
}

awaitable<void> sleep(std::chrono::microseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(use_awaitable);
}

}  // namespace async_detail

// ---- AsyncTransaction ----------------------------------------------------------------

AsyncTransaction::AsyncTransaction(std::unique_ptr<State> s) noexcept : m_state(std::move(s)) {}
AsyncTransaction::AsyncTransaction(AsyncTransaction&&) noexcept = default;

AsyncTransaction::~AsyncTransaction() {
  if (!m_state || !m_state->active || !m_state->lease) return;
  m_state->active = false;
  try {
    detail::finish_step(*m_state->core, m_state->lease, m_state->id, m_state->attempt, false);
  } catch (...) {
    // The session was closed: the server rolls the work back.
  }
}

awaitable<Result> AsyncTransaction::query(std::string sql, std::vector<Value> params, Intent intent) {
  State& st = *m_state;
  st.check_active();
  st.core->exec.refuse_if_read_only(sql, intent, st.core->primary());
  Result out;
  Statement s;
  s.sql = sql;
  s.params = params;
  s.intent = intent;
  s.result = &out;
  co_await run_statement(*st.core, st.context(), st.lease, s);
  co_return out;
}

awaitable<std::vector<Result>> AsyncTransaction::batch(std::string sql, std::vector<std::vector<Value>> sets,
                                                       Intent intent) {
  State& st = *m_state;
  st.check_active();
  st.core->exec.refuse_if_read_only(sql, intent, st.core->primary());
  std::vector<Result> out;
  Statement s;
  s.kind = Statement::Kind::batch;
  s.sql = sql;
  s.sets = sets;
  s.intent = intent;
  s.results = &out;
  co_await run_statement(*st.core, st.context(), st.lease, s);
  co_return out;
}

namespace {
/// COMMIT or ROLLBACK of `st`, on the loop where the session can, else on a
/// worker. Not cancellable: it runs in a coroutine of its own, so a
/// cancellation that comes meanwhile cannot leave the outcome unknown (it
/// reaches the caller's next operation instead).
awaitable<void> finish_tx(AsyncTransaction::State& st, bool commit) {
  auto io = co_await asio::this_coro::executor;
  co_await asio::co_spawn(
      io,
      [&st, commit]() -> awaitable<void> {
        const bool on_loop = co_await control_on_loop(*st.core, st.context(), st.lease, commit ? "COMMIT" : "ROLLBACK",
                                                      commit ? driver::Session::TxStep::commit
                                                             : driver::Session::TxStep::rollback,
                                                      {}, true);
        if (!on_loop)
          (void)co_await on_worker<int>(*st.core, [&st, commit] {
            detail::finish_step(*st.core, st.lease, st.id, st.attempt, commit);
            return 0;
          });
      },
      asio::bind_cancellation_slot(asio::cancellation_slot(), use_awaitable));
}
}  // namespace

awaitable<void> AsyncTransaction::commit() {
  State& st = *m_state;
  st.check_active();
  st.active = false;
  co_await finish_tx(st, true);
  st.committed = true;
  st.lease.release();
}

awaitable<void> AsyncTransaction::rollback() {
  State& st = *m_state;
  if (!st.active) co_return;
  st.active = false;
  if (!st.lease) co_return;  // closed: nothing left to roll back
  try {
    co_await finish_tx(st, false);
  } catch (const Error&) {
    // The session was closed: the server rolls the work back.
  }
  st.lease.release();
}

awaitable<std::vector<ConnectionHealth>> async_health(ConnectionRegistry& db) {
  using Op = decltype(async_health(std::declval<Connection&>(), asio::deferred));
  std::vector<Op> probes;
  for (const auto& name : db.connection_names()) probes.push_back(async_health(db.connection(name), asio::deferred));
  std::vector<ConnectionHealth> out;
  if (probes.empty()) co_return out;
  namespace x = asio::experimental;
  auto [order, errors, reports] =
      co_await x::make_parallel_group(std::move(probes)).async_wait(x::wait_for_all(), asio::use_awaitable);
  for (std::size_t k : order)
    if (errors[k]) std::rethrow_exception(errors[k]);
  co_return std::move(reports);
}

// ---- AsyncCursor ----------------------------------------------------------------------

AsyncCursor::AsyncCursor(std::unique_ptr<State> s) noexcept : m_state(std::move(s)) {}
AsyncCursor::AsyncCursor(AsyncCursor&&) noexcept = default;
AsyncCursor& AsyncCursor::operator=(AsyncCursor&&) noexcept = default;

AsyncCursor::~AsyncCursor() {
  if (!m_state || m_state->ended) return;
  if (m_state->blocking) {
    // Its end (draining, or stopping the statement) may wait on the server: on a worker.
    asio::post(workers(*m_state->core), [c = std::make_shared<Cursor>(std::move(*m_state->blocking))] {});
    return;
  }
  // Dropped before its end: the hooks hear of the rows read, as when a
  // blocking cursor is dropped; the statement is stopped on the server and
  // the session closed on a worker (a MariaDB session would read the rest of
  // the rows as it closes, and asking the server to stop is a round trip).
  m_state->core->exec.finish(m_state->started, m_state->context(), m_state->intent, m_state->rows);
  detail::ConnectionCore& core = *m_state->core;
  asio::post(workers(core), [st = std::move(m_state)] {
    try {
      if (st->lease) st->lease->async()->cancel();
    } catch (...) {
      // Closing the session ends the statement anyway.
    }
    st->end(true);
  });
}

awaitable<Result> AsyncCursor::next() {
  State& st = *m_state;
  if (!st.pending.empty()) {
    st.columns = st.pending.columns();
    co_return std::exchange(st.pending, Result{});
  }
  if (st.ended) {
    Result none;
    none.set_columns(st.columns.size() ? st.columns : st.pending.columns());
    co_return none;
  }
  if (!st.blocking) co_return co_await async_detail::stream_rows(st);
  co_return co_await on_worker<Result>(*st.core, [&st] {
    Cursor& c = *st.blocking;
    Result rows;
    rows.set_columns(c.columns());
    while (rows.size() < async_detail::kPulledRows && c.next()) {
      Value* out = rows.append_row();
      const Row r = c.row();
      for (std::size_t i = 0; i < r.size(); ++i) out[i] = r[i];
    }
    st.rows += rows.size();
    st.columns = rows.columns();
    if (rows.size() < async_detail::kPulledRows) {  // its end: the session goes back, the hooks are told
      st.blocking.reset();
      st.ended = true;
    }
    return rows;
  });
}

std::uint64_t AsyncCursor::position() const noexcept { return m_state ? m_state->rows : 0; }
bool AsyncCursor::done() const noexcept { return !m_state || m_state->ended; }

bool AsyncTransaction::active() const noexcept { return m_state && m_state->active; }
bool AsyncTransaction::committed() const noexcept { return m_state && m_state->committed; }
std::uint64_t AsyncTransaction::id() const noexcept { return m_state->id; }
Connection& AsyncTransaction::connection() const noexcept { return *m_state->conn; }

}  // namespace plexus

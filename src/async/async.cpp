// The asynchronous API (include/plexus/async.hpp): a statement routed with
// the router's own walk (plan, take a session, accept), its session taken
// from the pool without blocking, and run on the engine's non-blocking side
// with the executor's hooks and metrics around it, or on a worker when the
// session has no non-blocking side.
#include "plexus/async.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

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
struct DefaultLoop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  ~DefaultLoop() {
    work.reset();
    io.stop();
    thread.join();
  }
};

/// Where blocking steps run: statements of sessions without a non-blocking
/// side (SQLite, MariaDB over TLS), connecting, a fail-over search. Bounded:
/// a few threads, whatever the number of statements awaiting.
asio::thread_pool& workers() {
  static asio::thread_pool pool(4);
  return pool;
}

/// Runs `f` on a worker; resumes the caller on its own executor with the result or the error.
template <class R, class F>
awaitable<R> on_worker(F f) {
  co_return co_await asio::async_initiate<decltype(use_awaitable), void(std::exception_ptr, R)>(
      [](auto handler, F fn) {
        auto io = asio::get_associated_executor(handler);
        asio::post(workers(), [fn = std::move(fn), handler = std::move(handler), io]() mutable {
          std::exception_ptr error;
          R out{};
          try {
            out = fn();
          } catch (...) {
            error = std::current_exception();
          }
          asio::post(io, [handler = std::move(handler), error, out = std::move(out)]() mutable {
            std::move(handler)(error, std::move(out));
          });
        });
      },
      use_awaitable, std::move(f));
}

using Channel = asio::experimental::concurrent_channel<void(boost::system::error_code)>;

/// A session from `pool` without blocking the loop: one idle now, a new one
/// opened on a worker, or the next one given back (until the pool's
/// acquire_timeout, then the same TimeoutError as the blocking acquire).
awaitable<Pool::Lease> acquire(Pool& pool, std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  auto io = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto woken = std::make_shared<Channel>(io, 1);
    Pool::Ready ready = pool.acquire_or_wait([woken] { (void)woken->try_send(boost::system::error_code()); });
    if (ready.lease) co_return std::move(ready.lease);
    if (ready.open) co_return co_await on_worker<Pool::Lease>([&pool, deadline] { return pool.open_reserved(deadline); });
    asio::steady_timer timer(io, deadline);
    std::exception_ptr cancelled;
    std::variant<std::monostate, std::monostate> which;
    try {
      which = co_await (woken->async_receive(use_awaitable) || timer.async_wait(use_awaitable));
    } catch (...) {
      cancelled = std::current_exception();
    }
    if (!cancelled && which.index() == 0) continue;  // a session came back: look again
    // Timed out or cancelled: withdraw the wait, or hand on a wake already made.
    if (!pool.cancel_wait(ready.waiter)) pool.wake_next();
    if (cancelled) std::rethrow_exception(cancelled);
    throw pool.wait_timed_out();
  }
}

/// The rows a statement reports to the hooks.
std::uint64_t rows_of(const Result& r) { return r.columns().size() ? r.size() : r.affected_rows(); }

/// Runs `s` on a worker (a session without a non-blocking side: SQLite,
/// MariaDB over TLS). A cancellation while it runs interrupts it
/// (Session::interrupt, from a thread of its own: the workers may all be
/// busy), and the session is closed.
awaitable<void> run_blocking(detail::Executor& exec, detail::Attempt& leg, const Statement& s) {
  struct Running {
    std::mutex mutex;
    bool on = false;
    bool cancelled = false;
  };
  auto state = std::make_shared<Running>();
  driver::Session* session = &*leg.lease;
  asio::cancellation_slot slot = (co_await asio::this_coro::cancellation_state).slot();
  if (slot.is_connected())
    slot.assign([state, session](asio::cancellation_type) {
      std::thread([state, session] {
        std::lock_guard lock(state->mutex);
        state->cancelled = true;
        if (state->on) session->interrupt();  // the session exists while its statement runs
      }).detach();
    });
  const detail::RunContext at{leg.pool, leg.reason};
  std::exception_ptr error;
  (void)co_await on_worker<int>([&] {
    {
      std::lock_guard lock(state->mutex);
      state->on = !state->cancelled;
    }
    if (state->on) {
      try {
        (void)exec.run(leg.lease, at, s);
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
  if (cancelled && (error || !leg.lease)) {
    if (leg.lease) leg.lease.discard();
    throw boost::system::system_error(asio::error::operation_aborted);
  }
  if (error) std::rethrow_exception(error);
}

/// Runs `s` on the session of `leg`: on its non-blocking side, waiting on
/// its socket in the loop, or on a worker.
awaitable<void> execute(detail::Executor& exec, detail::Attempt& leg, const Statement& s) {
  driver::AsyncSession* side = leg.lease->async();
  if (!side) {
    co_await run_blocking(exec, leg, s);
    co_return;
  }
  const detail::RunContext at{leg.pool, leg.reason};
  auto io = co_await asio::this_coro::executor;
  detail::Executor::Started started = exec.start(at, s.sql, s.params, s.intent);
  asio::posix::stream_descriptor socket(io);
  std::exception_ptr aborted;
  try {
    driver::AsyncSession::Wait wait = side->start(s.sql, s.params);
    if (wait != driver::AsyncSession::Wait::done) socket.assign(side->socket());
    while (wait != driver::AsyncSession::Wait::done) {
      try {
        co_await socket.async_wait(wait == driver::AsyncSession::Wait::read ? asio::posix::descriptor_base::wait_read
                                                                             : asio::posix::descriptor_base::wait_write,
                                   use_awaitable);
      } catch (const boost::system::system_error&) {
        aborted = std::current_exception();  // cancelled by the caller
        break;
      }
      wait = side->resume();
    }
    if (socket.is_open()) (void)socket.release();  // the session owns the socket
    if (!aborted) {
      *s.result = side->take();
      exec.finish(started, at, s.intent, rows_of(*s.result));
      co_return;
    }
  } catch (Error& e) {
    if (socket.is_open()) (void)socket.release();
    exec.fail(started, e, leg.lease, at, s.sql, s.params, s.intent);
    throw;
  }
  // Cancelled with the statement in flight: the server is asked to stop it
  // (a blocking request, on a worker) and the session is closed, never
  // handed out again mid-statement; the operation completes after that, so
  // nothing outlives the caller's wait.
  co_await asio::this_coro::reset_cancellation_state();
  (void)co_await on_worker<int>([&] {
    try {
      side->cancel();
    } catch (...) {
      // Closing the session below ends the statement anyway.
    }
    leg.lease.discard();
    return 0;
  });
  std::rethrow_exception(aborted);
}

/// One statement through the router's walk, as ConnectionCore::run does it.
awaitable<Result> run(detail::ConnectionCore& core, async_detail::QueryArgs args) {
  Result out;
  Statement s;
  s.kind = Statement::Kind::query;
  s.sql = args.sql;
  s.params = args.params;
  s.intent = args.intent;
  s.result = &out;
  core.exec.refuse_if_read_only(s.sql, s.intent, core.primary());
  detail::Router::Route route(core.router, s, args.route);
  for (;;) {
    detail::Leg leg = route.plan();
    Pool::Lease lease;
    std::exception_ptr not_taken;
    try {
      lease = co_await acquire(*leg.pool, core.cfg.pool.acquire_timeout);
    } catch (Error& e) {
      if (!leg.replica) core.exec.report_acquire_failure(e, *leg.pool, leg.reason, s.sql, s.params, s.intent);
      not_taken = std::current_exception();
    }
    try {
      if (not_taken) std::rethrow_exception(not_taken);
      if (!route.accept(leg, lease)) continue;
    } catch (const Error& e) {
      route.acquire_failed(leg, e);  // throws when the walk ends
      continue;
    }
    detail::Attempt attempt{*leg.pool, std::move(lease), leg.reason, std::move(leg.in_flight)};
    try {
      co_await execute(core.exec, attempt, s);
      route.succeeded(attempt);
      co_return out;
    } catch (const Error& e) {
      if (!route.failed(attempt, e)) throw;
    }
  }
}

}  // namespace

asio::io_context& default_io_context() {
  static DefaultLoop loop;
  return loop.io;
}

namespace async_detail {

void start_query(Connection& c, asio::any_io_executor io, QueryArgs args, ResultHandler handler) {
  asio::co_spawn(std::move(io), run(detail::core_of(c), std::move(args)), std::move(handler));
}

}  // namespace async_detail

}  // namespace plexus

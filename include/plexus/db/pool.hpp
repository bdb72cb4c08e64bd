// A bounded, thread-safe pool of sessions to one host.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"

namespace plexus {

namespace driver {  // the engine contract (plexus/driver/engine.hpp), not shown to users of the library
class Engine;
class Options;
class Session;
class PendingSession;
}  // namespace driver

struct PoolStats {
  std::size_t open = 0;      ///< sessions that exist (idle + in use)
  std::size_t in_use = 0;
  std::size_t idle = 0;
  std::size_t waiting = 0;   ///< callers blocked in acquire()
  std::size_t max = 0;
  std::uint64_t created = 0;
  std::uint64_t discarded = 0;  ///< closed as broken, expired or idle too long
  std::uint64_t timeouts = 0;   ///< acquire() calls that gave up
  std::uint64_t waits = 0;      ///< acquire() calls that had to wait for a session
  std::chrono::nanoseconds wait_time{0};  ///< time spent in those waits, in total
  [[nodiscard]] std::string to_string() const;
};

class Pool;
namespace detail {
struct HostMetrics;
}

/// A cap on sessions open at once across many pools (one per Database). When
/// it is reached, idle sessions of the least recently used other pools are
/// closed to make room; with none idle, acquire waits for one.
class ConnectionBudget {
 public:
  explicit ConnectionBudget(std::size_t max) : m_max(max) {}
  [[nodiscard]] std::size_t max() const noexcept { return m_max; }
  [[nodiscard]] std::size_t used() const;
  void attach(Pool* p);
  void detach(Pool* p);
  /// Takes one slot for `requester`, evicting idle sessions elsewhere if needed.
  /// False when none frees up before the deadline.
  bool take(Pool* requester, std::chrono::steady_clock::time_point deadline);
  void give_back(std::size_t n) noexcept;

 private:
  std::size_t m_max;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::size_t m_used = 0;
  std::vector<Pool*> m_pools;
};

class Pool {
 public:
  /// Sessions of `engine` to `host` (nullptr for file engines). `role` is
  /// "primary" or "replica". `budget` (optional) caps sessions across pools.
  /// The engine, configuration and options must outlive the pool.
  Pool(const driver::Engine& engine, const ConnectionConfig& cfg, const driver::Options& options, const Endpoint* host,
       std::string role, ConnectionBudget* budget = nullptr);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// A session on loan; returned to the pool when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept
        : m_pool(o.m_pool), m_session(std::exchange(o.m_session, nullptr)), m_created(o.m_created), m_acquired(o.m_acquired) {
      o.m_pool = nullptr;
    }
    Lease& operator=(Lease&& o) noexcept;
    ~Lease() {
      if (m_session) release();
    }
    driver::Session* operator->() const noexcept { return m_session; }
    driver::Session& operator*() const noexcept { return *m_session; }
    explicit operator bool() const noexcept { return m_session != nullptr; }
    /// Closes the session instead of returning it (after a connection-level error).
    void discard() noexcept;
    void release() noexcept;

   private:
    friend class Pool;
    Lease(Pool* p, std::unique_ptr<driver::Session> s, std::chrono::steady_clock::time_point created,
          std::chrono::steady_clock::time_point acquired) noexcept
        : m_pool(p), m_session(s.release()), m_created(created), m_acquired(acquired) {}
    /// Takes the session out of the lease (the pool parks, keeps or closes it).
    [[nodiscard]] std::unique_ptr<driver::Session> take() noexcept;
    Pool* m_pool = nullptr;
    // Owned (a raw pointer so this header needs no definition of the session
    // contract): release() hands it back to the pool, or closes it.
    driver::Session* m_session = nullptr;
    std::chrono::steady_clock::time_point m_created;
    std::chrono::steady_clock::time_point m_acquired;
  };

  /// Borrows a session, connecting if needed.
  /// @throws TimeoutError when none frees up within pool.acquire_timeout;
  ///         ConnectionError when a new session cannot be opened.
  [[nodiscard]] Lease acquire();

  /// What acquire_or_wait() found: a session (`lease`), a slot kept for a
  /// new one (`open`: call open_reserved()), or neither (`waiter`: `wake`
  /// will be called once, from the thread that gives a session back or frees
  /// a slot; cancel_wait(waiter) withdraws it). A session given back goes
  /// to the first waiter itself, in `wake`'s lease: a caller arriving
  /// meanwhile cannot take it first, so waiters are served in order. An
  /// empty lease says a slot was freed: look again.
  struct Ready {
    Lease lease;
    bool open = false;
    std::uint64_t waiter = 0;
  };
  /// acquire() without blocking, for a caller that waits elsewhere (the
  /// asynchronous API): never connects, never sleeps. An empty `wake`
  /// registers nothing (all three empty: look again with one to wait).
  using Wake = std::function<void(Lease)>;
  [[nodiscard]] Ready acquire_or_wait(Wake wake);
  /// Opens a session in the slot acquire_or_wait() kept (connects: run it
  /// where blocking is fine). Waits for the global cap until `deadline`.
  /// @throws as acquire() does; the slot is freed.
  [[nodiscard]] Lease open_reserved(std::chrono::steady_clock::time_point deadline);
  /// Starts opening a session in the slot acquire_or_wait() kept, without
  /// blocking: when the engine can (Engine::connect_start) and the global
  /// connection cap has room now. nullptr otherwise: call open_reserved()
  /// where blocking is fine. Then finish_reserved(), or abandon_reserved().
  /// @throws as open_reserved() does; the slot is freed.
  [[nodiscard]] std::unique_ptr<driver::PendingSession> start_reserved();
  /// The session start_reserved() opened, as a lease.
  /// @throws the connect's error (with this pool's connection and host); the slot is freed.
  [[nodiscard]] Lease finish_reserved(driver::PendingSession& pending);
  /// Frees the slot of a start_reserved() whose connect was given up (cancelled).
  void abandon_reserved() noexcept;
  /// Withdraws a wait; false when its wake was already called (or is being
  /// called): a lease it brings goes back when it is dropped, an empty one
  /// the caller hands on with wake_next().
  bool cancel_wait(std::uint64_t waiter) noexcept;
  /// Calls the next waiting `wake`, if any (a woken caller that no longer
  /// wants a session hands its turn on).
  void wake_next() noexcept;
  /// The error of a wait that ran out (counted as a timeout).
  [[nodiscard]] TimeoutError wait_timed_out();

  [[nodiscard]] PoolStats stats() const;
  /// "primary" or "replica": the role this host has now (a primary candidate
  /// of a fail-over connection changes role when the writer moves).
  [[nodiscard]] const std::string& role() const noexcept { return *m_role.load(std::memory_order_acquire); }
  void set_role(bool primary) noexcept;
  [[nodiscard]] bool is_primary() const noexcept;
  /// Counters of what ran on this host in its current role (src/db/metrics.hpp).
  [[nodiscard]] detail::HostMetrics& metrics() const noexcept;
  [[nodiscard]] detail::HostMetrics& metrics(bool primary) const noexcept;
  /// The last health() probe of this host: 1 answered, 0 did not, -1 never probed.
  [[nodiscard]] int probed() const noexcept { return m_probed.load(std::memory_order_relaxed); }
  void set_probed(bool up) noexcept { m_probed.store(up ? 1 : 0, std::memory_order_relaxed); }
  /// How the host is named in events and errors.
  [[nodiscard]] const std::string& host() const noexcept { return m_host_name; }
  [[nodiscard]] const Endpoint* endpoint() const noexcept { return m_host ? &*m_host : nullptr; }
  /// Closes every idle session; returns how many.
  std::size_t close_idle();
  /// Opens sessions until pool.min are open.
  void warm_up();
  /// When a session was last handed out (for the budget's LRU choice).
  [[nodiscard]] std::chrono::steady_clock::time_point last_used() const;
  [[nodiscard]] std::size_t idle_count() const;
  /// Called with a message when a session is held longer than pool.leak_warning.
  void on_warning(std::function<void(const std::string&)> fn) { m_warn = std::move(fn); }

 private:
  struct Idle {
    std::unique_ptr<driver::Session> session;
    std::chrono::steady_clock::time_point created;
    std::chrono::steady_clock::time_point last_used;
  };
  /// Takes the session of `lease` back (parked, kept idle, or closed when `broken`).
  void give_back(Lease& lease, bool broken) noexcept;
  /// A reserved slot whose session could not be opened: freed, the next waiter woken.
  void open_failed() noexcept;
  /// Gives `lease`'s session to the first acquire_or_wait() waiter; false when none waits.
  bool hand_to_waiter(Lease& lease, std::chrono::steady_clock::time_point created,
                      std::chrono::steady_clock::time_point now) noexcept;
  [[nodiscard]] PoolStats stats_locked() const;
  /// The locked path of acquire(): idle list, checks, new sessions, waiting
  /// (until pool.acquire_timeout after `started`).
  [[nodiscard]] Lease acquire_locked(std::chrono::steady_clock::time_point started);
  /// The parked session without the mutex, when it needs no look (not due
  /// for the sweep, validation or retirement); else it moves to the idle list.
  [[nodiscard]] std::optional<Lease> take_parked(std::chrono::steady_clock::time_point now);
  /// An idle session fit to hand out, if there is one (closing those that
  /// are not); `lock` is held on entry and exit (released while closing or pinging).
  [[nodiscard]] std::optional<Lease> take_idle_locked(std::unique_lock<std::mutex>& lock,
                                                      std::chrono::steady_clock::time_point now);
  /// Connects in a slot already counted in m_open (freed on failure).
  [[nodiscard]] Lease open_counted(std::chrono::steady_clock::time_point deadline);
  /// Takes the parked session, if there is one.
  [[nodiscard]] std::optional<Idle> unpark() noexcept;
  /// Moves the parked session to the idle list; caller holds the lock.
  void unpark_locked();
  /// Removes idle sessions past idle_timeout (keeping pool.min); caller holds the lock.
  std::vector<Idle> take_expired_locked(std::chrono::steady_clock::time_point now);
  void closed(std::size_t n) noexcept;

  const driver::Engine& m_engine;
  const ConnectionConfig& m_cfg;
  const driver::Options& m_options;
  std::optional<Endpoint> m_host;
  std::atomic<const std::string*> m_role;
  std::unique_ptr<detail::HostMetrics[]> m_metrics;  // [0] as replica, [1] as primary
  std::atomic<int> m_probed{-1};
  std::string m_host_name;
  std::size_t m_max;

  // The parked slot: the last session given back, handed over without the
  // mutex (one compare-and-swap each way), so a caller that runs one query at
  // a time never locks. Its Idle record belongs to whoever moved the state to
  // busy. Sessions that do not fit go to m_idle under the mutex; a waiter
  // counts itself in m_waiting before it looks at the slot, and a giver parks
  // before it reads m_waiting (both sequentially consistent), so one of them
  // always sees the other and no waiter sleeps past a parked session.
  static constexpr int kEmpty = 0, kBusy = 1, kFull = 2;
  std::atomic<int> m_parked_state{kEmpty};
  Idle m_parked;

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<Idle> m_idle;
  std::size_t m_open = 0;
  std::atomic<std::size_t> m_waiting{0};  ///< blocked in acquire() and waiting through acquire_or_wait()
  std::deque<std::pair<std::uint64_t, Wake>> m_wakes;  ///< acquire_or_wait()'s waiters, in order
  std::uint64_t m_next_waiter = 0;
  std::uint64_t m_created = 0;
  std::uint64_t m_discarded = 0;
  std::uint64_t m_timeouts = 0;
  std::uint64_t m_waits = 0;
  std::chrono::nanoseconds m_wait_time{0};
  std::atomic<std::chrono::steady_clock::rep> m_last_used{0};
  std::atomic<std::chrono::steady_clock::rep> m_next_sweep{0};
  std::chrono::steady_clock::duration m_sweep_every;
  ConnectionBudget* m_budget;
  std::function<void(const std::string&)> m_warn;
};

}  // namespace plexus

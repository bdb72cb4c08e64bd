#include "plexus/db/pool.hpp"

#include <algorithm>
#include <ctime>

#include "db/metrics.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/driver.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus {

using Clock = std::chrono::steady_clock;

namespace {

const std::string kPrimaryRole = "primary";
const std::string kReplicaRole = "replica";

/// The pool's bookkeeping (idle, lifetime, validation and leak limits) is in
/// milliseconds: the coarse monotonic clock (same epoch as steady_clock) costs
/// a few nanoseconds where a precise reading costs ~30, twice per query.
Clock::time_point coarse_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                        std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace

std::string PoolStats::to_string() const {
  return "open " + std::to_string(open) + "/" + std::to_string(max) + ", in use " + std::to_string(in_use) +
         ", idle " + std::to_string(idle) + ", waiting " + std::to_string(waiting) + ", timeouts " +
         std::to_string(timeouts);
}

// ---- budget ------------------------------------------------------------------

std::size_t ConnectionBudget::used() const {
  std::lock_guard lock(m_mutex);
  return m_used;
}

void ConnectionBudget::attach(Pool* p) {
  std::lock_guard lock(m_mutex);
  m_pools.push_back(p);
}

void ConnectionBudget::detach(Pool* p) {
  std::lock_guard lock(m_mutex);
  std::erase(m_pools, p);
}

bool ConnectionBudget::take(Pool* requester, Clock::time_point deadline) {
  std::unique_lock lock(m_mutex);
  for (;;) {
    if (m_used < m_max) {
      ++m_used;
      return true;
    }
    // Evict from the least recently used other pool that has idle sessions.
    Pool* victim = nullptr;
    for (Pool* p : m_pools)
      if (p != requester && p->idle_count() > 0 && (!victim || p->last_used() < victim->last_used())) victim = p;
    if (victim) {
      lock.unlock();
      victim->close_idle();  // gives its slots back through give_back()
      lock.lock();
      continue;
    }
    if (m_cv.wait_until(lock, deadline) == std::cv_status::timeout && m_used >= m_max) return false;
  }
}

void ConnectionBudget::give_back(std::size_t n) noexcept {
  if (n == 0) return;
  {
    std::lock_guard lock(m_mutex);
    m_used -= std::min(n, m_used);
  }
  m_cv.notify_all();
}

// ---- lease -------------------------------------------------------------------

Pool::Lease& Pool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    m_pool = o.m_pool;
    m_session = std::exchange(o.m_session, nullptr);
    m_created = o.m_created;
    m_acquired = o.m_acquired;
    o.m_pool = nullptr;
  }
  return *this;
}

void Pool::Lease::release() noexcept {
  if (m_pool && m_session) m_pool->give_back(*this, false);
  else take().reset();  // a session no pool takes back is closed
  m_pool = nullptr;
}

void Pool::Lease::discard() noexcept {
  if (m_pool && m_session) m_pool->give_back(*this, true);
  else take().reset();
  m_pool = nullptr;
}

std::unique_ptr<driver::Session> Pool::Lease::take() noexcept {
  return std::unique_ptr<driver::Session>(std::exchange(m_session, nullptr));
}

// ---- pool --------------------------------------------------------------------

Pool::Pool(const driver::Engine& engine, const ConnectionConfig& cfg, const driver::Options& options,
           const Endpoint* host, std::string role, ConnectionBudget* budget)
    : m_engine(engine),
      m_cfg(cfg),
      m_options(options),
      m_host(host ? std::optional<Endpoint>(*host) : std::nullopt),
      m_role(role == "primary" ? &kPrimaryRole : &kReplicaRole),
      m_metrics(std::make_unique<detail::HostMetrics[]>(2)),
      m_host_name(engine.describe(cfg, host)),
      m_max(engine.shareable(cfg) ? cfg.pool.max : 1),
      m_sweep_every(std::min<Clock::duration>({std::chrono::seconds(1), cfg.pool.idle_timeout / 2,
                                               cfg.pool.max_lifetime / 2})),
      m_budget(budget) {
  if (m_budget) m_budget->attach(this);
}

void Pool::set_role(bool primary) noexcept {
  m_role.store(primary ? &kPrimaryRole : &kReplicaRole, std::memory_order_release);
}
bool Pool::is_primary() const noexcept { return m_role.load(std::memory_order_acquire) == &kPrimaryRole; }
detail::HostMetrics& Pool::metrics() const noexcept {  // once per statement: is_primary() and metrics(bool) written out
  return m_metrics[m_role.load(std::memory_order_acquire) == &kPrimaryRole ? 1 : 0];
}
detail::HostMetrics& Pool::metrics(bool primary) const noexcept { return m_metrics[primary ? 1 : 0]; }

Pool::~Pool() {
  if (m_budget) m_budget->detach(this);
  std::size_t n;
  {
    std::lock_guard lock(m_mutex);
    unpark_locked();
    n = m_idle.size();
    m_idle.clear();
  }
  if (m_budget) m_budget->give_back(n);
}

void Pool::closed(std::size_t n) noexcept {
  if (m_budget) m_budget->give_back(n);
}

std::optional<Pool::Idle> Pool::unpark() noexcept {
  int full = kFull;
  if (!m_parked_state.compare_exchange_strong(full, kBusy, std::memory_order_acquire, std::memory_order_relaxed))
    return std::nullopt;
  std::optional<Idle> out(std::move(m_parked));
  m_parked_state.store(kEmpty, std::memory_order_release);
  return out;
}

void Pool::unpark_locked() {
  if (auto p = unpark()) m_idle.push_back(std::move(*p));
}

std::vector<Pool::Idle> Pool::take_expired_locked(Clock::time_point now) {
  std::vector<Idle> out;
  for (auto it = m_idle.begin(); it != m_idle.end() && m_open > m_cfg.pool.min;) {
    if (now - it->last_used >= m_cfg.pool.idle_timeout || now - it->created >= m_cfg.pool.max_lifetime) {
      out.push_back(std::move(*it));
      it = m_idle.erase(it);
      --m_open;
      ++m_discarded;
    } else {
      ++it;
    }
  }
  return out;
}

[[gnu::always_inline]] inline std::optional<Pool::Lease> Pool::take_parked(Clock::time_point now) {
  // The parked session, when nothing about it needs a look: not due for the
  // idle sweep, validation or retirement. Anything else takes the locked path.
  int full = kFull;
  if (now.time_since_epoch().count() < m_next_sweep.load(std::memory_order_relaxed) &&
      m_parked_state.compare_exchange_strong(full, kBusy, std::memory_order_acquire, std::memory_order_relaxed)) {
    // The slot is ours while it is busy: the session leaves it without a copy of its record.
    const auto idle_for = now - m_parked.last_used;
    // A session reused within the same clock tick was fine a moment ago;
    // one that sat idle longer gets a look at its socket (no round trip),
    // so a server restart is noticed before a statement is sent.
    if (idle_for < m_cfg.pool.validate_after && idle_for < m_cfg.pool.idle_timeout &&
        now - m_parked.created < m_cfg.pool.max_lifetime &&
        (idle_for.count() == 0 ? m_parked.session->healthy() : m_parked.session->alive())) {
      Lease lease(this, std::move(m_parked.session), m_parked.created, now);
      m_parked_state.store(kEmpty, std::memory_order_release);
      return lease;
    }
    Idle slot = std::move(m_parked);
    m_parked_state.store(kEmpty, std::memory_order_release);
    std::lock_guard lock(m_mutex);
    m_idle.push_back(std::move(slot));
  }
  return std::nullopt;
}

Pool::Lease Pool::acquire() {
  const auto now = coarse_now();
  m_last_used.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  if (auto lease = take_parked(now)) return std::move(*lease);
  return acquire_locked(now);
}


Pool::Lease Pool::acquire_locked(Clock::time_point started) {
  const auto deadline = started + m_cfg.pool.acquire_timeout;
  std::unique_lock lock(m_mutex);
  for (;;) {
    const auto now = coarse_now();
    unpark_locked();
    // Sweeping idle sessions past their time walks the idle list: every half
    // limit (at most a second) is soon enough, and keeps it off the hot path.
    if (now.time_since_epoch().count() >= m_next_sweep.load(std::memory_order_relaxed)) {
      m_next_sweep.store((now + m_sweep_every).time_since_epoch().count(), std::memory_order_relaxed);
      if (auto expired = take_expired_locked(now); !expired.empty()) {
        lock.unlock();
        auto n = expired.size();
        expired.clear();  // close outside the lock
        closed(n);
        lock.lock();
      }
    }
    if (auto lease = take_idle_locked(lock, now)) return std::move(*lease);
    if (m_open < m_max) {
      ++m_open;
      lock.unlock();
      return open_counted(deadline);
    }
    m_waiting.fetch_add(1, std::memory_order_seq_cst);  // before looking at the parked slot (see the header)
    const auto wait_start = Clock::now();
    bool woke = m_cv.wait_until(lock, deadline, [&] {
      return m_parked_state.load(std::memory_order_seq_cst) == kFull || !m_idle.empty() || m_open < m_max;
    });
    m_waiting.fetch_sub(1, std::memory_order_relaxed);
    ++m_waits;
    m_wait_time += Clock::now() - wait_start;
    if (!woke) {
      ++m_timeouts;
      PoolStats st = stats_locked();
      lock.unlock();
      TimeoutError err("no session free in the pool within " + std::to_string(m_cfg.pool.acquire_timeout.count()) +
                       " ms (" + st.to_string() + ")");
      err.add_context({m_cfg.name, m_host_name, this->role(), {}});
      err.set_hint("raise pool.max or pool.acquire_timeout_ms, or release sessions sooner (long transactions, open cursors)");
      throw err;
    }
  }
}

std::optional<Pool::Lease> Pool::take_idle_locked(std::unique_lock<std::mutex>& lock, Clock::time_point now) {
  while (!m_idle.empty()) {
    Idle slot = std::move(m_idle.back());
    m_idle.pop_back();
    // Idle past idle_timeout counts only above pool.min: those sessions are kept.
    bool expired = now - slot.created >= m_cfg.pool.max_lifetime ||
                   (now - slot.last_used >= m_cfg.pool.idle_timeout && m_open > m_cfg.pool.min);
    if (expired || !slot.session->alive()) {
      --m_open;
      ++m_discarded;
      lock.unlock();
      slot.session.reset();
      closed(1);
      lock.lock();
      continue;
    }
    if (now - slot.last_used >= m_cfg.pool.validate_after) {
      lock.unlock();
      try {
        slot.session->ping();
        lock.lock();
        return Lease(this, std::move(slot.session), slot.created, now);
      } catch (const Error&) {
        slot.session.reset();
        closed(1);
        lock.lock();
        --m_open;
        ++m_discarded;
        m_cv.notify_one();
        continue;
      }
    }
    return Lease(this, std::move(slot.session), slot.created, now);
  }
  return std::nullopt;
}

Pool::Lease Pool::open_counted(Clock::time_point deadline) {
  if (m_budget && !m_budget->take(this, deadline)) {
    std::unique_lock lock(m_mutex);
    --m_open;
    ++m_timeouts;
    lock.unlock();
    m_cv.notify_one();
    wake_next();
    TimeoutError err("the global connection cap (max_connections = " + std::to_string(m_budget->max()) +
                     ") is reached and no idle session elsewhere could be closed within " +
                     std::to_string(m_cfg.pool.acquire_timeout.count()) + " ms");
    err.add_context({m_cfg.name, m_host_name, this->role(), {}});
    err.set_hint("raise max_connections, or release sessions sooner");
    throw err;
  }
  try {
    auto s = m_engine.connect(driver::Target{m_cfg, m_options, m_host ? &*m_host : nullptr});
    {
      std::lock_guard lock(m_mutex);
      ++m_created;
    }
    const auto opened = coarse_now();
    return Lease(this, std::move(s), opened, opened);
  } catch (Error& e) {
    open_failed();
    e.add_context({m_cfg.name, m_host_name, this->role(), {}});
    throw;
  }
}

void Pool::open_failed() noexcept {
  closed(1);
  {
    std::lock_guard lock(m_mutex);
    --m_open;
  }
  m_cv.notify_one();
  wake_next();
}

std::unique_ptr<driver::PendingSession> Pool::start_reserved() {
  if (m_budget && !m_budget->take(this, Clock::now())) return nullptr;  // open_reserved() waits for the cap
  std::unique_ptr<driver::PendingSession> pending;
  try {
    pending = m_engine.connect_start(driver::Target{m_cfg, m_options, m_host ? &*m_host : nullptr});
  } catch (Error& e) {
    open_failed();
    e.add_context({m_cfg.name, m_host_name, this->role(), {}});
    throw;
  }
  if (!pending) closed(1);  // the engine cannot: open_reserved() takes the cap's share again
  return pending;
}

Pool::Lease Pool::finish_reserved(driver::PendingSession& pending) {
  try {
    auto s = pending.finish();
    {
      std::lock_guard lock(m_mutex);
      ++m_created;
    }
    const auto opened = coarse_now();
    return Lease(this, std::move(s), opened, opened);
  } catch (Error& e) {
    open_failed();
    e.add_context({m_cfg.name, m_host_name, this->role(), {}});
    throw;
  }
}

void Pool::abandon_reserved() noexcept { open_failed(); }

Pool::Ready Pool::acquire_or_wait(Wake wake) {
  const auto now = coarse_now();
  m_last_used.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  Ready r;
  if (auto lease = take_parked(now)) {  // without the mutex, as acquire() does
    r.lease = std::move(*lease);
    return r;
  }
  std::unique_lock lock(m_mutex);
  unpark_locked();
  if (auto lease = take_idle_locked(lock, now)) {
    r.lease = std::move(*lease);
    return r;
  }
  if (m_open < m_max) {
    ++m_open;
    r.open = true;
    return r;
  }
  if (!wake) return r;  // a look without waiting
  // Counted as waiting before the slot is looked at again by a giver (see the header).
  m_waiting.fetch_add(1, std::memory_order_seq_cst);
  ++m_waits;
  r.waiter = ++m_next_waiter;
  m_wakes.emplace_back(r.waiter, std::move(wake));
  if (m_parked_state.load(std::memory_order_seq_cst) == kFull) {
    // Given back between the look above and the count: take it now.
    m_wakes.pop_back();
    m_waiting.fetch_sub(1, std::memory_order_relaxed);
    unpark_locked();
    if (auto lease = take_idle_locked(lock, now)) {
      r.waiter = 0;
      r.lease = std::move(*lease);
      return r;
    }
    m_waiting.fetch_add(1, std::memory_order_seq_cst);
    m_wakes.emplace_back(r.waiter, std::move(wake));
  }
  return r;
}

Pool::Lease Pool::open_reserved(Clock::time_point deadline) { return open_counted(deadline); }

bool Pool::cancel_wait(std::uint64_t waiter) noexcept {
  std::lock_guard lock(m_mutex);
  auto it = std::find_if(m_wakes.begin(), m_wakes.end(), [&](const auto& w) { return w.first == waiter; });
  if (it == m_wakes.end()) return false;
  m_wakes.erase(it);
  m_waiting.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void Pool::wake_next() noexcept {
  Wake wake;
  {
    std::lock_guard lock(m_mutex);
    if (m_wakes.empty()) return;
    wake = std::move(m_wakes.front().second);
    m_wakes.pop_front();
    m_waiting.fetch_sub(1, std::memory_order_relaxed);
  }
  try {
    wake(Lease());
  } catch (...) {
    // A waker must not break a release.
  }
}

bool Pool::hand_to_waiter(Lease& lease, Clock::time_point created, Clock::time_point now) noexcept {
  Wake wake;
  {
    std::lock_guard lock(m_mutex);
    if (m_wakes.empty()) return false;
    wake = std::move(m_wakes.front().second);
    m_wakes.pop_front();
    m_waiting.fetch_sub(1, std::memory_order_relaxed);
  }
  try {
    wake(Lease(this, lease.take(), created, now));  // a waker that throws has dropped it: given back again
  } catch (...) {
  }
  return true;
}

TimeoutError Pool::wait_timed_out() {
  std::unique_lock lock(m_mutex);
  ++m_timeouts;
  PoolStats st = stats_locked();
  lock.unlock();
  TimeoutError err("no session free in the pool within " + std::to_string(m_cfg.pool.acquire_timeout.count()) + " ms (" +
                   st.to_string() + ")");
  err.add_context({m_cfg.name, m_host_name, this->role(), {}});
  err.set_hint("raise pool.max or pool.acquire_timeout_ms, or release sessions sooner (long transactions, open cursors)");
  return err;
}

void Pool::give_back(Lease& lease, bool broken) noexcept {
  const auto now = coarse_now();
  const auto created = lease.m_created;
  if (m_cfg.pool.leak_warning.count() > 0 && now - lease.m_acquired > m_cfg.pool.leak_warning && m_warn) {
    try {
      m_warn("a session of connection '" + m_cfg.name + "' (" + this->role() + " " + m_host_name + ") was held for " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - lease.m_acquired).count()) +
             " ms, longer than pool.leak_warning_ms = " + std::to_string(m_cfg.pool.leak_warning.count()));
    } catch (...) {
      // A warning hook must not break the release.
    }
  }
  if (!broken && lease.m_session->healthy() && now - created < m_cfg.pool.max_lifetime) {
    // To the first asynchronous waiter itself, so one arriving meanwhile cannot take it first.
    if (m_waiting.load(std::memory_order_seq_cst) > 0 && hand_to_waiter(lease, created, now)) return;
    // Into the parked slot when it is empty (the session moved straight in), else the idle list.
    int empty = kEmpty;
    if (m_parked_state.compare_exchange_strong(empty, kBusy, std::memory_order_acquire, std::memory_order_relaxed)) {
      m_parked.session = lease.take();
      m_parked.created = created;
      m_parked.last_used = now;
      m_parked_state.store(kFull, std::memory_order_seq_cst);  // before reading m_waiting (see the header)
      if (m_waiting.load(std::memory_order_seq_cst) > 0) {
        // Taking the lock orders this after a waiter's check of the slot:
        // it is either still to look (and will see the session) or asleep.
        { std::lock_guard lock(m_mutex); }
        m_cv.notify_one();
        wake_next();
      }
      return;
    }
    std::unique_lock lock(m_mutex);
    m_idle.push_back(Idle{lease.take(), created, now});
    const bool waiters = m_waiting.load(std::memory_order_relaxed) > 0;
    lock.unlock();
    if (waiters) {
      m_cv.notify_one();
      wake_next();
    }
    return;
  }
  std::unique_ptr<driver::Session> closing = lease.take();
  std::unique_lock lock(m_mutex);
  --m_open;
  ++m_discarded;
  lock.unlock();
  closing.reset();
  closed(1);
  m_cv.notify_one();
  wake_next();
}

PoolStats Pool::stats_locked() const {
  const std::size_t idle = m_idle.size() + (m_parked_state.load(std::memory_order_acquire) == kFull ? 1 : 0);
  return PoolStats{m_open, m_open - idle, idle, m_waiting.load(std::memory_order_relaxed), m_max, m_created, m_discarded,
                   m_timeouts,  m_waits, m_wait_time};
}

PoolStats Pool::stats() const {
  std::lock_guard lock(m_mutex);
  return stats_locked();
}

Clock::time_point Pool::last_used() const {
  return Clock::time_point(Clock::duration(m_last_used.load(std::memory_order_relaxed)));
}

std::size_t Pool::idle_count() const {
  std::lock_guard lock(m_mutex);
  return m_idle.size() + (m_parked_state.load(std::memory_order_acquire) == kFull ? 1 : 0);
}

std::size_t Pool::close_idle() {
  std::vector<Idle> victims;
  {
    std::lock_guard lock(m_mutex);
    unpark_locked();
    victims.swap(m_idle);
    m_open -= victims.size();
    m_discarded += victims.size();
  }
  auto n = victims.size();
  victims.clear();
  closed(n);
  m_cv.notify_all();
  return n;
}

void Pool::warm_up() {
  std::vector<Lease> held;
  while (stats().open < std::min(m_cfg.pool.min, m_max)) held.push_back(acquire());
}

}  // namespace plexus

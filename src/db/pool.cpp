#include "plexus/db/pool.hpp"

#include "plexus/core/error.hpp"

namespace plexus {

using Clock = std::chrono::steady_clock;

std::string PoolStats::to_string() const {
  return "open " + std::to_string(open) + "/" + std::to_string(max) + ", in use " + std::to_string(in_use) +
         ", idle " + std::to_string(idle) + ", waiting " + std::to_string(waiting) + ", timeouts " +
         std::to_string(timeouts);
}

Pool::Lease& Pool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    m_pool = o.m_pool;
    m_session = std::move(o.m_session);
    m_created = o.m_created;
    o.m_pool = nullptr;
  }
  return *this;
}

void Pool::Lease::release() noexcept {
  if (m_pool && m_session) m_pool->give_back(std::move(m_session), m_created, false);
  m_pool = nullptr;
}

void Pool::Lease::discard() noexcept {
  if (m_pool && m_session) m_pool->give_back(std::move(m_session), m_created, true);
  m_pool = nullptr;
}

Pool::Pool(const driver::Driver& driver, const ConnectionConfig& cfg, const Endpoint* host, std::string role)
    : m_driver(driver),
      m_cfg(cfg),
      m_host(host ? std::optional<Endpoint>(*host) : std::nullopt),
      m_role(std::move(role)),
      m_host_name(driver.describe(cfg, host)),
      m_max(driver.shareable(cfg) ? cfg.pool.max : 1) {}

Pool::~Pool() {
  std::lock_guard lock(m_mutex);
  m_idle.clear();
}

Pool::Lease Pool::acquire() {
  const auto deadline = Clock::now() + m_cfg.pool.acquire_timeout;
  std::unique_lock lock(m_mutex);
  for (;;) {
    while (!m_idle.empty()) {
      Idle slot = std::move(m_idle.back());
      m_idle.pop_back();
      auto now = Clock::now();
      bool expired = now - slot.created >= m_cfg.pool.max_lifetime || now - slot.last_used >= m_cfg.pool.idle_timeout;
      if (expired || !slot.session->healthy()) {
        --m_open;
        ++m_discarded;
        lock.unlock();
        slot.session.reset();  // close outside the lock
        lock.lock();
        continue;
      }
      if (now - slot.last_used >= m_cfg.pool.validate_after) {
        lock.unlock();
        try {
          slot.session->ping();
          return Lease(this, std::move(slot.session), slot.created);
        } catch (const Error&) {
          slot.session.reset();
          lock.lock();
          --m_open;
          ++m_discarded;
          m_cv.notify_one();
          continue;
        }
      }
      return Lease(this, std::move(slot.session), slot.created);
    }
    if (m_open < m_max) {
      ++m_open;
      lock.unlock();
      try {
        auto s = m_driver.connect(m_cfg, m_host ? &*m_host : nullptr);
        lock.lock();
        ++m_created;
        lock.unlock();
        return Lease(this, std::move(s), Clock::now());
      } catch (Error& e) {
        lock.lock();
        --m_open;
        m_cv.notify_one();
        e.add_context({m_cfg.name, m_host_name, m_role, {}});
        throw;
      }
    }
    ++m_waiting;
    bool woke = m_cv.wait_until(lock, deadline, [&] { return !m_idle.empty() || m_open < m_max; });
    --m_waiting;
    if (!woke) {
      ++m_timeouts;
      PoolStats st{m_open, m_open - m_idle.size(), m_idle.size(), m_waiting, m_max, m_created, m_discarded, m_timeouts};
      lock.unlock();
      TimeoutError err("no session free in the pool within " + std::to_string(m_cfg.pool.acquire_timeout.count()) +
                       " ms (" + st.to_string() + ")");
      err.add_context({m_cfg.name, m_host_name, m_role, {}});
      err.set_hint("raise pool.max or pool.acquire_timeout_ms, or release sessions sooner (long transactions, open cursors)");
      throw err;
    }
  }
}

void Pool::give_back(std::unique_ptr<driver::Session> s, Clock::time_point created, bool broken) noexcept {
  std::unique_lock lock(m_mutex);
  if (broken || !s->healthy()) {
    --m_open;
    ++m_discarded;
    lock.unlock();
    s.reset();
    m_cv.notify_one();
    return;
  }
  m_idle.push_back(Idle{std::move(s), created, Clock::now()});
  lock.unlock();
  m_cv.notify_one();
}

PoolStats Pool::stats() const {
  std::lock_guard lock(m_mutex);
  return PoolStats{m_open, m_open - m_idle.size(), m_idle.size(), m_waiting, m_max, m_created, m_discarded, m_timeouts};
}

void Pool::close_idle() {
  std::vector<Idle> victims;
  {
    std::lock_guard lock(m_mutex);
    victims.swap(m_idle);
    m_open -= victims.size();
    m_discarded += victims.size();
  }
  m_cv.notify_all();
}

}  // namespace plexus

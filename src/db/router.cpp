#include "db/router.hpp"
#include "plexus/driver/driver.hpp"

#include <memory>
#include <thread>
#include <type_traits>

namespace plexus::detail {

using Clock = std::chrono::steady_clock;

namespace {
std::int64_t now_ticks() { return Clock::now().time_since_epoch().count(); }
}  // namespace

Router::Router(const ConnectionConfig& cfg, Executor& exec, std::vector<Pool*> candidates,
               std::unique_ptr<Picker> picker, Warn warn)
    : m_cfg(cfg),
      m_exec(exec),
      m_candidates(std::move(candidates)),
      m_picker(std::move(picker)),
      m_reason("read: " + cfg.load_balance),
      m_warn(std::move(warn)) {}

void Router::add_replica(std::unique_ptr<Pool> pool, unsigned weight) {
  auto r = std::make_unique<Replica>();
  r->pool = pool.get();
  r->owned = std::move(pool);
  r->weight = weight;
  m_replicas.push_back(std::move(r));
}

void Router::add_candidates_as_replicas() {
  if (!follows_failover()) return;
  for (Pool* c : m_candidates) {
    auto r = std::make_unique<Replica>();
    r->pool = c;
    r->weight = c->endpoint() ? c->endpoint()->weight : 1;
    m_replicas.push_back(std::move(r));
  }
}

std::vector<Pool*> Router::pools() const {
  std::vector<Pool*> out(m_candidates);
  for (const auto& r : m_replicas)
    if (r->owned) out.push_back(r->pool);
  return out;
}

bool Router::eligible(const Replica& r) const noexcept {
  // A primary candidate serves reads while it is not the primary.
  return r.ejected_until.load(std::memory_order_relaxed) <= now_ticks() && !(r.owned == nullptr && r.pool->is_primary());
}

Pool& Router::follow(Pool& failed, const Error& why) {
  if (!follows_failover()) return failed;
  const std::uint64_t seen = [&] {
    std::lock_guard lock(m_follow_mutex);
    return m_searches;
  }();
  std::lock_guard lock(m_follow_mutex);
  // Another thread searched while this one waited for the lock: its answer stands.
  if (m_searches != seen) {
    if (m_search_failed) throw *m_search_failed;
    return primary();
  }
  if (&primary() != &failed) return primary();
  if (why.is_connection_error()) failed.close_idle();  // its sessions are as good as dead
  const auto deadline = Clock::now() + m_cfg.failover_wait;
  for (;;) {
    std::string tried;
    for (std::size_t k = 0; k < m_candidates.size(); ++k) {
      Pool& p = *m_candidates[k];
      driver::Session::NodeRole role = driver::Session::NodeRole::unavailable;
      try {
        auto lease = p.acquire();
        try {
          role = lease->node_role();
        } catch (const Error&) {
          lease.discard();
          throw;
        }
      } catch (const Error& e) {
        tried += (tried.empty() ? "" : "; ") + p.host() + ": " + e.message();
        continue;
      }
      if (role == driver::Session::NodeRole::writable) {
        ++m_searches;
        m_search_failed.reset();
        const std::size_t was = m_writer.load(std::memory_order_relaxed);
        if (k != was) {
          m_candidates[was]->set_role(false);
          p.set_role(true);
          m_writer.store(k, std::memory_order_release);
          m_failovers.fetch_add(1, std::memory_order_relaxed);
          if (m_warn)
            m_warn("connection '" + m_cfg.name + "': writes now go to " + p.host() + " (was " +
                   m_candidates[was]->host() + ") after: " + why.message());
        }
        return p;
      }
      tried += (tried.empty() ? "" : "; ") + p.host() +
               (role == driver::Session::NodeRole::read_only ? ": read-only (a standby or replica)" : ": not ready");
    }
    if (Clock::now() >= deadline) {
      ++m_searches;
      ConnectionError e("no primary candidate of connection '" + m_cfg.name + "' takes writes (" + tried + ")");
      e.add_context({m_cfg.name, failed.host(), "primary", {}});
      e.set_hint(m_cfg.failover_wait.count() > 0
                     ? "a fail-over may still be under way: retry later"
                     : "set failover_wait_ms to let writes wait for a promotion, or check the servers");
      m_search_failed = e;
      throw e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Router::eject(Replica& r, const Error& why) {
  auto until = Clock::now() + m_cfg.replica_cooldown;
  r.ejected_until.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  r.ejections.fetch_add(1, std::memory_order_relaxed);
  r.pool->close_idle();  // sessions to a failed server are as good as dead
  if (m_warn)
    m_warn("replica " + r.pool->host() + " of connection '" + m_cfg.name + "' left out for " +
           std::to_string(m_cfg.replica_cooldown.count()) + " ms after: " + why.message());
}

Router::ReplicaOrder Router::walk() {
  // The picker sees the replicas that may serve now; the walk starts at its
  // choice and goes on through the others in order.
  // Views made only for the replicas there are (not kMaxWalk default ones per read).
  union Slots {
    Slots() noexcept {}
    ReplicaView v[kMaxWalk];
  } fixed;
  static_assert(std::is_trivially_destructible_v<ReplicaView>);
  std::vector<ReplicaView> more;
  std::size_t n = 0;
  for (std::size_t i = 0; i < m_replicas.size(); ++i) {
    const Replica& r = *m_replicas[i];
    if (!eligible(r)) continue;
    const auto lag = r.lag_ms.load(std::memory_order_relaxed);
    ReplicaView v{i, r.pool->host(), r.weight, r.in_flight.load(std::memory_order_relaxed),
                  lag >= 0 ? std::optional(std::chrono::milliseconds(lag)) : std::nullopt};
    if (n < kMaxWalk) std::construct_at(&fixed.v[n], v);
    else more.push_back(v);
    ++n;
  }
  ReplicaOrder out;
  if (n == 0) return out;
  std::span<const ReplicaView> views = n <= kMaxWalk ? std::span<const ReplicaView>(fixed.v, n) : [&] {
    more.insert(more.begin(), fixed.v, fixed.v + kMaxWalk);
    return std::span<const ReplicaView>(more);
  }();
  const std::size_t first = std::min(m_picker->pick(views), n - 1);
  for (std::size_t k = 0; k < n; ++k) out.push(views[(first + k) % n].index);
  return out;
}

bool Router::fit(Replica& r, Pool::Lease& lease) {
  const auto now = now_ticks();
  const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(500)).count();
  if (now - r.lag_checked.load(std::memory_order_relaxed) >= every) {
    r.lag_checked.store(now, std::memory_order_relaxed);
    r.ready.store(lease->serves_reads(), std::memory_order_relaxed);  // a connection error here ejects it
    if (m_cfg.max_replica_lag.count() > 0) {
      std::int64_t lag = -1;  // unknown counts as lagging, never as 0
      try {
        if (auto l = lease->replica_lag()) lag = l->count();
      } catch (const Error& e) {
        if (e.is_connection_error()) throw;
      }
      r.lag_ms.store(lag, std::memory_order_relaxed);
    }
  }
  if (!r.ready.load(std::memory_order_relaxed)) return false;
  if (m_cfg.max_replica_lag.count() <= 0) return true;
  const auto lag = r.lag_ms.load(std::memory_order_relaxed);
  return lag >= 0 && lag <= m_cfg.max_replica_lag.count();
}

Attempt Router::following_writer_leg(std::string_view reason, std::string_view sql, std::span<const Value> params,
                                 Intent intent) {
  Pool* pool = &primary();
  for (;;) {
    try {
      return Attempt{*pool, m_exec.acquire(*pool, reason, sql, params, intent), reason, InFlight()};
    } catch (const Error& e) {
      if (!e.is_connection_error() || !follows_failover()) throw;
      Pool& next = follow(*pool, e);
      if (&next == pool) throw;  // the same server, reachable again: no second try here
      pool = &next;
    }
  }
}

Consistency Router::consistency(const RouteOptions& o) const noexcept {
  Consistency m = o.uow ? o.uow->mode() : Consistency::eventual;
  if (m != Consistency::from_config) return m;
  if (m_cfg.causal) return Consistency::causal;
  if (m_cfg.sticky) return Consistency::sticky;
  return Consistency::eventual;
}

void Router::record_write(driver::Session& s, const RouteOptions& o) {
  if (!o.uow) return;
  std::optional<std::string> pos;
  if (consistency(o) == Consistency::causal) {
    try {
      pos = s.replication_position();
    } catch (const Error&) {
      pos.reset();  // without a position, causal reads in this unit use the primary
    }
  }
  o.uow->record_write(m_cfg.name, std::move(pos));
}

void Router::no_replica(std::string_view sql, const std::string* last_error) const {
  ConnectionError e("no replica of connection '" + m_cfg.name + "' can serve this read" +
                    (last_error ? " (last error: " + *last_error + ")" : std::string(" (all are left out or lagging)")));
  e.set_sql(sql);
  e.add_context({m_cfg.name, {}, "replica", {}});
  e.set_hint("drop on_replica() to let the primary serve it");
  throw e;
}

// ---- Route: the reads that may go to a replica, and what follows a failure ----

void Router::Route::plan_read() {
  using Side = RouteOptions::Side;
  if (m_r.m_replicas.empty()) {  // on_replica() without read hosts
    throw UsageError("connection '" + m_r.m_cfg.name + "' has no read_hosts, so on_replica() cannot be served");
  }
  if (m_o.uow && m_o.side != Side::replica && m_o.uow->wrote(m_r.m_cfg.name)) {
    switch (m_r.consistency(m_o)) {
      case Consistency::sticky:
        to_primary("read: sticky (this unit wrote)");
        return;
      case Consistency::causal:
        m_walk.emplace();
        m_walk->position = m_o.uow->position(m_r.m_cfg.name);
        if (!m_walk->position) {
          to_primary("read: causal (no position, primary)");
          return;
        }
        // Wait on one replica only: waiting on each in turn would multiply the bound.
        m_phase = Phase::causal;
        m_walk->order = m_r.walk();
        return;
      default: break;
    }
  }
  m_phase = Phase::replicas;
  m_walk.emplace();
  m_walk->order = m_r.walk();
}

Leg Router::Route::plan() {
  for (;;) {
    m_planned = m_phase;
    switch (m_phase) {
      case Phase::primary:
        m_phase = Phase::primary_tried;
        return Leg{&m_r.primary(), m_reason, nullptr, InFlight()};
      case Phase::primary_again:
        m_phase = Phase::last;
        return Leg{&m_r.primary(), m_reason, nullptr, InFlight()};
      case Phase::causal:
      case Phase::replicas:
        if (m_walk->next < m_walk->order.n) {
          Replica& r = *m_r.m_replicas[m_walk->order[m_walk->next++]];
          // Counted from before the session is taken: a read waiting for a
          // connection is outstanding work on that host too.
          return Leg{r.pool, m_phase == Phase::causal ? std::string_view("read: causal (replica caught up)")
                                                      : m_r.strategy_reason(),
                     &r, InFlight(&r.in_flight)};
        }
        if (m_phase == Phase::causal) {
          to_primary("read: causal (replica behind, primary)");
          continue;
        }
        if (m_o.side == RouteOptions::Side::replica)
          m_r.no_replica(m_s.sql, m_walk->last_error ? &*m_walk->last_error : nullptr);
        to_primary("read: fallback to primary (no replica available)");
        continue;
      case Phase::primary_tried:
      case Phase::last: break;
    }
    throw std::logic_error("plexus: a route was asked for a host after its last one");
  }
}

bool Router::Route::accept(Leg& leg, Pool::Lease& lease) {
  if (!leg.replica) return true;
  if (m_planned == Phase::causal) {
    // Wait on one replica only: waiting on each in turn would multiply the bound.
    if (!lease->wait_for_position(*m_walk->position, m_r.m_cfg.causal_wait)) {
      m_walk->next = m_walk->order.n;  // behind: the primary serves it
      return false;
    }
  } else if (!m_r.fit(*leg.replica, lease)) {
    return false;
  }
  m_walk->on = leg.replica;
  return true;
}

void Router::Route::acquire_failed(Leg& leg, const Error& e) {
  if (leg.replica) {
    if (!e.is_connection_error()) throw;
    m_r.eject(*leg.replica, e);
    if (m_planned == Phase::replicas) m_walk->last_error = e.message();
    return;
  }
  // The primary: after a lost connection, the primary there is now (once
  // per new primary; the same server again ends the walk).
  if (!e.is_connection_error() || !m_r.follows_failover()) throw;
  if (&m_r.follow(*leg.pool, e) == leg.pool) throw;
  m_phase = m_planned;  // the same step, on the new primary
}

Attempt Router::Route::next_other() {
  for (;;) {
    Leg leg = plan();
    Pool::Lease lease;
    try {
      lease = leg.replica ? leg.pool->acquire()
                          : m_r.m_exec.acquire(*leg.pool, leg.reason, m_s.sql, m_s.params, m_s.intent);
      if (!accept(leg, lease)) continue;
    } catch (const Error& e) {
      acquire_failed(leg, e);
      continue;
    }
    return Attempt{*leg.pool, std::move(lease), leg.reason, std::move(leg.in_flight)};
  }
}

bool Router::Route::failed(Attempt& leg, const Error& e) {
  switch (m_phase) {
    case Phase::causal:
    case Phase::replicas:
      // A replica that failed before any row reached the caller is left out; the walk goes on.
      if (!e.is_connection_error() || m_s.started()) return false;
      m_r.eject(*m_walk->on, e);
      if (m_phase == Phase::replicas) {
        m_walk->last_error = e.message();
      }
      return true;
    case Phase::primary_tried:
      if (m_s.intent == Intent::read) {
        // A read that failed because its session had died (a server restart
        // between the pool's check and the statement) runs once more on a
        // fresh session (on the new primary after a fail-over), as long as
        // no row has reached the caller. Writes are not rerun: the pool's
        // check before handing a session out is what keeps them from being
        // sent on a dead one.
        if (!e.is_connection_error() || m_s.started()) return false;
        if (m_r.follows_failover()) (void)m_r.follow(leg.pool, e);
        m_phase = Phase::primary_again;
        m_reason = "read: again on a fresh session";
        return true;
      }
      // A write refused as read-only reached a demoted primary and changed
      // nothing: it runs once on the primary there is now. After a lost
      // connection its outcome is unknown, so it is not rerun; the next write
      // goes to the new primary.
      if (!m_r.follows_failover()) return false;
      if (!e.is_connection_error() && !e.is_read_only_violation()) return false;
      if (Pool& now = m_r.follow(leg.pool, e); !e.is_read_only_violation() || &now == &leg.pool) return false;
      m_phase = Phase::primary_again;
      m_reason = "write: on the new primary after a fail-over";
      return true;
    case Phase::primary:
    case Phase::primary_again:
    case Phase::last: break;
  }
  return false;
}

}  // namespace plexus::detail

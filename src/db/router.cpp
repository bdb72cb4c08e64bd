#include "db/router.hpp"

namespace plexus::detail {

using Clock = std::chrono::steady_clock;

namespace {
std::int64_t now_ticks() { return Clock::now().time_since_epoch().count(); }
}  // namespace

Router::Router(const ConnectionConfig& cfg, Executor& exec, Pool& primary, std::unique_ptr<Picker> picker, Warn warn)
    : m_cfg(cfg),
      m_exec(exec),
      m_primary(primary),
      m_picker(std::move(picker)),
      m_reason("read: " + cfg.load_balance),
      m_warn(std::move(warn)) {}

void Router::add_replica(std::unique_ptr<Pool> pool, unsigned weight) {
  auto r = std::make_unique<Replica>();
  r->pool = std::move(pool);
  r->weight = weight;
  m_replicas.push_back(std::move(r));
}

bool Router::eligible(const Replica& r) const noexcept {
  return r.ejected_until.load(std::memory_order_relaxed) <= now_ticks();
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

Router::Walk Router::walk() {
  // The picker sees the replicas that may serve now; the walk starts at its
  // choice and goes on through the others in order.
  std::array<ReplicaView, kMaxWalk> fixed;
  std::vector<ReplicaView> more;
  std::size_t n = 0;
  for (std::size_t i = 0; i < m_replicas.size(); ++i) {
    const Replica& r = *m_replicas[i];
    if (!eligible(r)) continue;
    const auto lag = r.lag_ms.load(std::memory_order_relaxed);
    ReplicaView v{i, r.pool->host(), r.weight, r.in_flight.load(std::memory_order_relaxed),
                  lag >= 0 ? std::optional(std::chrono::milliseconds(lag)) : std::nullopt};
    if (n < kMaxWalk) fixed[n] = v;
    else more.push_back(v);
    ++n;
  }
  Walk out;
  if (n == 0) return out;
  std::span<const ReplicaView> views = n <= kMaxWalk ? std::span<const ReplicaView>(fixed.data(), n) : [&] {
    more.insert(more.begin(), fixed.begin(), fixed.end());
    return std::span<const ReplicaView>(more);
  }();
  const std::size_t first = std::min(m_picker->pick(views), n - 1);
  for (std::size_t k = 0; k < n; ++k) out.push(views[(first + k) % n].index);
  return out;
}

bool Router::lag_ok(Replica& r, Pool::Lease& lease) {
  if (m_cfg.max_replica_lag.count() <= 0) return true;
  const auto now = now_ticks();
  const auto every = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(500)).count();
  if (now - r.lag_checked.load(std::memory_order_relaxed) >= every) {
    std::int64_t lag = -1;
    try {
      if (auto l = lease->replica_lag()) lag = l->count();
    } catch (const Error&) {
      lag = -1;
    }
    r.lag_ms.store(lag, std::memory_order_relaxed);
    r.lag_checked.store(now, std::memory_order_relaxed);
  }
  auto lag = r.lag_ms.load(std::memory_order_relaxed);
  return lag >= 0 && lag <= m_cfg.max_replica_lag.count();
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

void Router::no_replica(std::string_view sql, const std::optional<Error>& last) const {
  ConnectionError e("no replica of connection '" + m_cfg.name + "' can serve this read" +
                    (last ? " (last error: " + last->message() + ")" : std::string(" (all are left out or lagging)")));
  e.set_sql(sql);
  e.add_context({m_cfg.name, {}, "replica", {}});
  e.set_hint("drop on_replica() to let the primary serve it");
  throw e;
}

}  // namespace plexus::detail

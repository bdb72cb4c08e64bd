// The connections' part of Database::metrics(): the live counters of every
// connection, host and role (the facade adds the coordinator's and the groups').
#include "plexus/db/registry.hpp"

#include "db/connection_core.hpp"
#include "db/metrics.hpp"

#include <cmath>
#include <limits>

namespace plexus {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

Labels with(Labels base, std::string key, std::string value) {
  base.emplace_back(std::move(key), std::move(value));
  return base;
}

/// The `kind` label of an error: stable snake_case names.
constexpr std::string_view kKindLabels[detail::kErrorKinds] = {
    "other", "config", "connection", "constraint", "retryable", "timeout",
    "read_only", "syntax", "conversion", "usage", "not_found"};

bool any(const detail::HostMetrics& h) {
  return h.queries[0].load(std::memory_order_relaxed) + h.queries[1].load(std::memory_order_relaxed) > 0;
}

void host_metrics(Metrics& m, const std::string& connection, const Pool& pool) {
  for (const bool primary : {true, false}) {
    const auto& h = pool.metrics(primary);
    if (!any(h) && pool.is_primary() != primary) continue;  // a role this host never had
    const Labels base{{"connection", connection}, {"host", pool.host()}, {"role", primary ? "primary" : "replica"}};
    auto& q = m.family("plexus_queries_total", "counter", "Statements run (or attempted), by intent");
    m.add(q, with(base, "intent", "read"), detail::read(h.queries[0]));
    m.add(q, with(base, "intent", "write"), detail::read(h.queries[1]));
    auto& e = m.family("plexus_query_errors_total", "counter", "Statements that failed, by kind of error");
    for (std::size_t k = 0; k < detail::kErrorKinds; ++k)
      if (const double n = detail::read(h.errors[k]); n > 0)
        m.add(e, with(base, "kind", std::string(kKindLabels[k])), n);
    auto& d = m.family("plexus_query_duration_seconds", "histogram", "Time a statement took, on the client");
    h.latency.export_to(m, d, base);
  }
  const Labels at{{"connection", connection}, {"host", pool.host()}};
  if (pool.probed() >= 0)
    m.add(m.family("plexus_host_up", "gauge", "1 when the host answered the last health() probe, else 0"),
          with(at, "role", pool.role()), pool.probed());
  const PoolStats s = pool.stats();
  auto& sessions = m.family("plexus_pool_sessions", "gauge", "Sessions of a pool, by state");
  m.add(sessions, with(at, "state", "in_use"), static_cast<double>(s.in_use));
  m.add(sessions, with(at, "state", "idle"), static_cast<double>(s.idle));
  m.add(m.family("plexus_pool_max_sessions", "gauge", "The pool's size limit (pool.max)"), at, static_cast<double>(s.max));
  m.add(m.family("plexus_pool_waiting", "gauge", "Callers waiting for a session now"), at, static_cast<double>(s.waiting));
  m.add(m.family("plexus_pool_waits_total", "counter", "Acquires that had to wait for a session"), at,
        static_cast<double>(s.waits));
  m.add(m.family("plexus_pool_wait_seconds_total", "counter", "Time spent waiting for a session"), at,
        std::chrono::duration<double>(s.wait_time).count());
  m.add(m.family("plexus_pool_timeouts_total", "counter", "Acquires that gave up (pool.acquire_timeout)"), at,
        static_cast<double>(s.timeouts));
  m.add(m.family("plexus_pool_sessions_opened_total", "counter", "Sessions opened"), at, static_cast<double>(s.created));
  m.add(m.family("plexus_pool_sessions_discarded_total", "counter", "Sessions closed as broken, expired or idle"), at,
        static_cast<double>(s.discarded));
}

}  // namespace

void ConnectionRegistry::collect_connection_metrics(Metrics& m) const {
  for (const auto& c : m_cfg.connections) {
    auto& core = detail::core_of(*m_connections.at(c.name));
    for (const Pool* p : core.router.pools()) host_metrics(m, c.name, *p);
    for (std::size_t i = 0; i < core.router.replica_count(); ++i) {
      auto& r = core.router.replica(i);
      const Labels at{{"connection", c.name}, {"host", r.pool->host()}};
      m.add(m.family("plexus_replica_ejections_total", "counter", "Times a replica was left out after a failure"), at,
            static_cast<double>(r.ejections.load(std::memory_order_relaxed)));
      m.add(m.family("plexus_replica_available", "gauge",
                     "1 when a replica may serve reads now (not left out, not the primary, ready)"),
            at, core.router.eligible(r) && r.ready.load(std::memory_order_relaxed) ? 1.0 : 0.0);
      const auto lag = r.lag_ms.load(std::memory_order_relaxed);
      m.add(m.family("plexus_replica_lag_seconds", "gauge", "Replica lag last measured (NaN: unknown or not measured)"),
            at, lag >= 0 ? static_cast<double>(lag) / 1000.0 : std::numeric_limits<double>::quiet_NaN());
    }
    const Labels conn{{"connection", c.name}};
    m.add(m.family("plexus_transaction_retries_total", "counter",
                   "Transactions run again after a serialization failure or deadlock (RetryPolicy)"),
          conn, detail::read(core.metrics.retries));
    m.add(m.family("plexus_failovers_total", "counter", "Times the writer moved to another primary candidate"), conn,
          static_cast<double>(core.router.failovers()));
  }
}

}  // namespace plexus

// Connection and RoutedConnection: thin views of a ConnectionCore, whose
// router picks the host and whose executor runs the statement.
#include "plexus/db/connection.hpp"

#include "db/connection_core.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus {

using Clock = std::chrono::steady_clock;

std::string ConnectionHealth::status() const {
  if (!primary_up) return "down";
  for (const auto& h : hosts)
    if (!h.reachable || h.lagging || !h.ready) return "degraded";
  return "healthy";
}

namespace detail {

ConnectionCore& core_of(Connection& c) noexcept { return *c.m_core; }

namespace {

/// One pool per primary candidate; the first is taken as the primary until a
/// write says otherwise.
std::vector<std::unique_ptr<Pool>> make_candidates(const driver::Engine& engine, const ConnectionConfig& cfg,
                                                   const driver::Options& options, ConnectionBudget* budget) {
  std::vector<std::unique_ptr<Pool>> out;
  if (cfg.hosts.empty()) {
    out.push_back(std::make_unique<Pool>(engine, cfg, options, nullptr, "primary", budget));
    return out;
  }
  for (std::size_t i = 0; i < cfg.hosts.size(); ++i)
    out.push_back(std::make_unique<Pool>(engine, cfg, options, &cfg.hosts[i], i == 0 ? "primary" : "replica", budget));
  return out;
}

std::vector<Pool*> raw(const std::vector<std::unique_ptr<Pool>>& pools) {
  std::vector<Pool*> out;
  for (const auto& p : pools) out.push_back(p.get());
  return out;
}

}  // namespace

ConnectionCore::ConnectionCore(ConnectionConfig config, const driver::Engine& eng, driver::Options opts,
                               std::unique_ptr<Picker> picker, std::shared_ptr<const HookRegistry> global,
                               ConnectionBudget* budget)
    : cfg(std::move(config)),
      engine(eng),
      grammar(eng.grammar()),
      options(std::move(opts)),
      exec(cfg, std::move(global)),
      candidates(make_candidates(engine, cfg, options, budget)),
      router(cfg, exec, raw(candidates), std::move(picker), [this](const std::string& m) { warn(m); }) {
  auto warn_fn = [this](const std::string& msg) { warn(msg); };  // the pools die with this core
  for (auto& c : candidates) c->on_warning(warn_fn);
  for (const auto& r : cfg.read_hosts) {
    auto pool = std::make_unique<Pool>(engine, cfg, options, &r, "replica", budget);
    pool->on_warning(warn_fn);
    router.add_replica(std::move(pool), r.weight);
  }
  router.add_candidates_as_replicas();
}

void ConnectionCore::set_warn(WarnFn fn) {
  auto next = std::make_shared<const WarnFn>(std::move(fn));
  std::lock_guard lock(m_warn_mutex);
  m_warn = std::move(next);
}

void ConnectionCore::warn(const std::string& msg) const {
  std::shared_ptr<const WarnFn> fn;
  {
    std::lock_guard lock(m_warn_mutex);
    fn = m_warn;
  }
  if (fn && *fn) (*fn)(msg);
}

std::uint64_t ConnectionCore::run(const Statement& s, const RouteOptions& o) {
  exec.refuse_if_read_only(s.sql, s.intent, primary());
  Router::Route route(router, s, o);
  for (;;) {
    Attempt leg = route.next();
    try {
      const std::uint64_t n = exec.run(leg.lease, RunContext{leg.pool, leg.reason}, s, &leg.in_flight);
      route.succeeded(leg);
      return n;
    } catch (const Error& e) {
      if (!route.failed(leg, e)) throw;
    }
  }
}

}  // namespace detail

// ---- Connection ------------------------------------------------------------------

Connection::Connection(std::unique_ptr<detail::ConnectionCore> core) : m_core(std::move(core)) {}
Connection::~Connection() = default;

const std::string& Connection::name() const noexcept { return m_core->cfg.name; }
const std::string& Connection::type() const noexcept { return m_core->cfg.driver; }
const ConnectionConfig& Connection::config() const noexcept { return m_core->cfg; }
const Grammar& Connection::grammar() const noexcept { return m_core->grammar; }

HookHandle Connection::on_before_query(QueryHook h) {
  return m_core->exec.hooks().add(&detail::HookRegistry::Set::before, std::move(h), "on_before_query()");
}
HookHandle Connection::on_after_query(QueryHook h) {
  return m_core->exec.hooks().add(&detail::HookRegistry::Set::after, std::move(h), "on_after_query()");
}
HookHandle Connection::on_error(QueryHook h) {
  return m_core->exec.hooks().add(&detail::HookRegistry::Set::error, std::move(h), "on_error()");
}
void Connection::redact_bindings(bool on) noexcept { m_core->exec.redact_bindings(on); }
void Connection::on_warning(std::function<void(const std::string&)> fn) { m_core->set_warn(std::move(fn)); }

void Connection::warm_up() {
  for (Pool* p : m_core->router.pools()) p->warm_up();
}

void Connection::close_idle() {
  for (Pool* p : m_core->router.pools()) p->close_idle();
}

PoolStats Connection::pool_stats() const { return m_core->primary().stats(); }
PoolStats Connection::replica_pool_stats(std::size_t i) const { return m_core->router.replica(i).pool->stats(); }
std::size_t Connection::replica_count() const noexcept { return m_core->cfg.read_hosts.size(); }
std::size_t Connection::open_sessions() const {
  std::size_t n = 0;
  for (const Pool* p : m_core->router.pools()) n += p->stats().open;
  return n;
}

bool Connection::is_connected() {
  try {
    ping();
    return true;
  } catch (const Error&) {
    return false;
  }
}

void Connection::ping() {
  auto& pool = m_core->primary();
  auto lease = pool.acquire();
  try {
    lease->ping();
  } catch (Error& e) {
    if (e.is_connection_error()) lease.discard();
    e.add_context({name(), pool.host(), "primary", {}});
    throw;
  }
}

std::string Connection::server_version() {
  auto lease = m_core->primary().acquire();
  return lease->server_version();
}

ConnectionHealth Connection::health() {
  ConnectionHealth h;
  h.name = name();
  h.type = type();
  auto probe = [&](Pool& pool) {
    HostHealth hh;
    hh.role = pool.role();
    hh.host = pool.host();
    auto start = Clock::now();
    if (auto why = m_core->engine.missing(m_core->cfg, pool.endpoint())) {
      // Not made yet: the first statement makes it (a probe never does).
      // Nothing is wrong with a new project's database.
      hh.created = false;
      hh.reachable = true;
      hh.note = *why;
      hh.pool = pool.stats();
      return hh;
    }
    try {
      auto lease = pool.acquire();
      try {
        lease->ping();
        hh.server_version = lease->server_version();
      } catch (const Error&) {
        lease.discard();
        throw;
      }
      hh.reachable = true;
      hh.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    } catch (const Error& e) {
      hh.error = e.message();
    }
    pool.set_probed(hh.reachable);
    hh.pool = pool.stats();
    return hh;
  };
  auto& router = m_core->router;
  auto first = probe(m_core->primary());
  if (!first.reachable && router.follows_failover()) {
    // The primary is gone: a standby may have been promoted. Follow it, so
    // the report shows the primary that takes writes now.
    try {
      Pool& now = router.follow(m_core->primary(), ConnectionError(first.error));
      if (&now != &m_core->primary() || now.host() != first.host) first = probe(now);
    } catch (const Error&) {
      // No candidate takes writes: the connection is down.
    }
  }
  h.hosts.push_back(std::move(first));
  h.primary_up = h.hosts.front().reachable;
  h.connected = m_core->primary().stats().open > 0;
  const auto max_lag = m_core->cfg.max_replica_lag;
  for (std::size_t i = 0; i < router.replica_count(); ++i) {
    auto& r = router.replica(i);
    if (r.pool == &m_core->primary()) continue;  // a candidate that is the primary now
    auto hh = probe(*r.pool);
    // A replica that does not answer is left out of reads, as a failed read
    // would leave it out: health, metrics and routing tell one story.
    if (!hh.reachable && router.eligible(r)) router.eject(r, ConnectionError(hh.error));
    hh.ejected = !router.eligible(r);
    if (hh.reachable) {
      try {
        auto lease = r.pool->acquire();
        hh.lag = lease->replica_lag();
        hh.ready = lease->serves_reads();
      } catch (const Error&) {
        // Reachable a moment ago; the lag stays unknown.
      }
      hh.lagging = max_lag.count() > 0 && (!hh.lag || *hh.lag > max_lag);
    }
    h.hosts.push_back(std::move(hh));
  }
  h.healthy = h.status() == "healthy";
  return h;
}

void Connection::atomically(const std::function<void(SingleTarget&)>& fn) {
  transaction([&](Transaction& tx) { fn(tx); });
}

Transaction Connection::begin(const TransactionOptions& opts) { return begin(opts, 1); }

Transaction Connection::begin(const TransactionOptions& opts, unsigned attempt) {
  auto& core = *m_core;
  auto lease = core.router.writer_session("transaction");
  const auto id = ++core.tx_counter;
  detail::begin_step(core, lease, opts, id, attempt);
  return Transaction(*this, core, std::move(lease), id, attempt);
}

std::uint64_t Connection::run(const Statement& s) {
  if (s.kind == Statement::Kind::batch && s.intent == Intent::write) {
    // All or nothing, on every engine (PostgreSQL would otherwise commit each pipelined chunk on its own).
    *s.results = transaction([&](Transaction& tx) { return tx.execute_batch(s.sql, s.sets); });
    return 0;
  }
  return m_core->run(s, RouteOptions{});
}

// ---- RoutedConnection ----------------------------------------------------------------


const std::string& RoutedConnection::engine() const noexcept { return m_conn->engine(); }
const Grammar& RoutedConnection::grammar() const noexcept { return m_conn->grammar(); }

void RoutedConnection::atomically(const std::function<void(SingleTarget&)>& fn) {
  transaction([&](Transaction& tx) { fn(tx); });
}

std::uint64_t RoutedConnection::run(const Statement& s) {
  if (s.kind == Statement::Kind::batch && s.intent == Intent::write) {
    // All or nothing, on every engine (PostgreSQL would otherwise commit each pipelined chunk on its own).
    *s.results = transaction([&](Transaction& tx) { return tx.execute_batch(s.sql, s.sets); });
    return 0;
  }
  return detail::core_of(*m_conn).run(s, m_opts);
}

}  // namespace plexus

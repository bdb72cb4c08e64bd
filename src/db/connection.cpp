#include "plexus/db/connection.hpp"

#include <algorithm>

#include "plexus/core/error.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus {

using Clock = std::chrono::steady_clock;

// ---- hooks -----------------------------------------------------------------

template <class F>
void HookRegistry::edit(F&& f) {
  std::lock_guard lock(m_mutex);
  auto next = std::make_shared<Set>(*m_set);
  f(*next);
  m_set = std::move(next);
}
void HookRegistry::add_before(QueryHook h) { edit([&](Set& s) { s.before.push_back(std::move(h)); }); }
void HookRegistry::add_after(QueryHook h) { edit([&](Set& s) { s.after.push_back(std::move(h)); }); }
void HookRegistry::add_error(QueryHook h) { edit([&](Set& s) { s.error.push_back(std::move(h)); }); }
std::shared_ptr<const HookRegistry::Set> HookRegistry::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_set;
}

QueryHook slow_query_hook(std::chrono::nanoseconds threshold, QueryHook fn) {
  return [threshold, fn = std::move(fn)](const QueryEvent& ev) {
    if (ev.duration > threshold) fn(ev);
  };
}

// ---- connection ------------------------------------------------------------

namespace {

const driver::Driver& require_driver(const ConnectionConfig& cfg) {
  if (const auto* d = driver::find(cfg.driver)) return *d;
  std::string list;
  for (auto n : driver::available()) list += (list.empty() ? "" : ", ") + std::string(n);
  throw ConfigError("connection '" + cfg.name + "': driver '" + cfg.driver +
                    "' is not compiled into this build of Plexus (available: " + list +
                    "); install its client library and rebuild with PLEXUS_WITH_" +
                    (cfg.driver == "postgres" ? "POSTGRES" : cfg.driver == "mysql" ? "MYSQL" : "SQLITE") + "=ON");
}

bool is_lost(const Error& e) { return e.is_connection_lost(); }

}  // namespace

Connection::Connection(ConnectionConfig cfg, std::shared_ptr<const HookRegistry> global_hooks)
    : m_cfg(std::move(cfg)), m_driver(&require_driver(m_cfg)), m_global(std::move(global_hooks)) {
  const Endpoint* primary = m_cfg.hosts.empty() ? nullptr : &m_cfg.hosts.front();
  m_primary = std::make_unique<Pool>(*m_driver, m_cfg, primary, "primary");
  for (const auto& r : m_cfg.read_hosts) m_replicas.push_back(std::make_unique<Pool>(*m_driver, m_cfg, &r, "replica"));
}

Connection::~Connection() = default;

bool Connection::is_connected() const { return m_primary->stats().open > 0; }

void Connection::ping() {
  auto lease = m_primary->acquire();
  try {
    lease->ping();
  } catch (Error& e) {
    if (is_lost(e)) lease.discard();
    e.add_context({m_cfg.name, m_primary->host(), "primary", {}});
    throw;
  }
}

std::string Connection::server_version() {
  auto lease = m_primary->acquire();
  return lease->server_version();
}

ConnectionHealth Connection::health() {
  ConnectionHealth h;
  h.name = m_cfg.name;
  h.type = m_cfg.driver;
  h.connected = is_connected();
  auto probe = [&](Pool& pool) {
    HostHealth hh;
    hh.role = pool.role();
    hh.host = pool.host();
    auto start = Clock::now();
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
    hh.pool = pool.stats();
    return hh;
  };
  h.hosts.push_back(probe(*m_primary));
  h.healthy = h.hosts.front().reachable;
  for (auto& r : m_replicas) h.hosts.push_back(probe(*r));
  return h;
}

void Connection::atomically(const std::function<void(Queryable&)>& fn) {
  transaction([&](Transaction& tx) { fn(tx); });
}

Transaction Connection::begin() {
  if (m_cfg.read_only) {
    // A read-only connection may still want a consistent snapshot; the engine
    // session itself refuses writes (query_only / default_transaction_read_only).
  }
  auto lease = m_primary->acquire();
  auto id = ++m_tx_counter;
  try {
    auto ev = event(*m_primary, "transaction", "BEGIN", {}, Intent::write, id);
    fire(&HookRegistry::Set::before, ev);
    auto start = Clock::now();
    lease->begin();
    ev.duration = Clock::now() - start;
    fire(&HookRegistry::Set::after, ev);
  } catch (Error& e) {
    if (is_lost(e)) lease.discard();
    e.add_context({m_cfg.name, m_primary->host(), "primary", {}});
    throw;
  }
  return Transaction(*this, *m_primary, std::move(lease), id);
}

Connection::Route Connection::route(Intent intent) {
  if (intent == Intent::write || m_replicas.empty()) return {m_primary.get(), intent == Intent::write ? "write" : "read"};
  auto i = m_next_replica.fetch_add(1, std::memory_order_relaxed) % m_replicas.size();
  return {m_replicas[i].get(), "read (round_robin)"};
}

void Connection::refuse_if_read_only(std::string_view sql, Intent intent) const {
  if (!m_cfg.read_only || intent == Intent::read) return;
  ReadOnlyError e("connection is configured read_only = true and refuses writes");
  e.set_sql(sql);
  e.add_context({m_cfg.name, m_primary->host(), "primary", {}});
  e.set_hint("run it on a writable connection, or pass Intent::read if the statement only reads");
  throw e;
}

QueryEvent Connection::event(const Pool& pool, std::string_view reason, std::string_view sql,
                             std::span<const Value> params, Intent intent, std::uint64_t tx_id) const {
  QueryEvent ev;
  ev.connection = m_cfg.name;
  ev.role = pool.role();
  ev.host = pool.host();
  ev.route = reason;
  ev.sql = sql;
  ev.bindings_redacted = m_redact;
  if (!m_redact) ev.bindings = params;
  ev.intent = intent;
  ev.transaction_id = tx_id;
  return ev;
}

void Connection::fire(const std::vector<QueryHook> HookRegistry::Set::*which, const QueryEvent& ev) const {
  auto local = m_hooks->snapshot();
  for (const auto& h : (*local).*which) h(ev);
  if (m_global) {
    auto global = m_global->snapshot();
    for (const auto& h : (*global).*which) h(ev);
  }
}

Result Connection::run_on(Pool::Lease& lease, const Pool& pool, std::string_view reason, std::string_view sql,
                          std::span<const Value> params, Intent intent, std::uint64_t tx_id) {
  auto ev = event(pool, reason, sql, params, intent, tx_id);
  fire(&HookRegistry::Set::before, ev);
  auto start = Clock::now();
  try {
    Result r = lease->execute(sql, params);
    ev.duration = Clock::now() - start;
    ev.rows = r.columns().size() ? r.size() : r.affected_rows();
    fire(&HookRegistry::Set::after, ev);
    return r;
  } catch (Error& e) {
    ev.duration = Clock::now() - start;
    if (is_lost(e)) lease.discard();  // never hand a broken session out again
    e.add_context({m_cfg.name, pool.host(), pool.role(), {}});
    if (e.sql().empty()) e.set_sql(sql);
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
}

Result Connection::run(std::string_view sql, std::span<const Value> params, Intent intent) {
  refuse_if_read_only(sql, intent);
  auto [pool, reason] = route(intent);
  Pool::Lease lease;
  try {
    lease = pool->acquire();
  } catch (Error& e) {
    e.set_sql(sql);
    QueryEvent ev = event(*pool, reason, sql, params, intent, 0);
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
  return run_on(lease, *pool, reason, sql, params, intent, 0);
}

namespace {

/// Keeps the session leased while rows stream, and reports the query to the
/// after-hooks when the stream ends.
class LeasedStream final : public RowSource {
 public:
  using Done = std::function<void(std::uint64_t rows, const Error* err)>;
  LeasedStream(Pool::Lease lease, std::unique_ptr<RowSource> src, Done done)
      : m_lease(std::move(lease)), m_src(std::move(src)), m_done(std::move(done)) {}
  ~LeasedStream() override { finish(nullptr); }
  const Columns& columns() const override { return m_src->columns(); }
  bool next(std::vector<Value>& row) override {
    if (!m_src) return false;
    try {
      if (m_src->next(row)) {
        ++m_rows;
        return true;
      }
    } catch (Error& e) {
      if (e.is_connection_lost()) m_lease.discard();
      finish(&e);
      throw;
    }
    finish(nullptr);
    return false;
  }

 private:
  void finish(const Error* err) {
    if (!m_src) return;
    m_src.reset();  // finalise the statement before the session goes back
    m_lease.release();
    if (m_done) m_done(m_rows, err);
  }
  Pool::Lease m_lease;
  std::unique_ptr<RowSource> m_src;
  Done m_done;
  std::uint64_t m_rows = 0;
};

}  // namespace

Cursor Connection::open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) {
  refuse_if_read_only(sql, intent);
  auto [pool, reason] = route(intent);
  auto lease = pool->acquire();
  auto ev = event(*pool, reason, sql, params, intent, 0);
  fire(&HookRegistry::Set::before, ev);
  auto start = Clock::now();
  std::unique_ptr<RowSource> src;
  try {
    src = lease->stream(sql, params);
  } catch (Error& e) {
    if (is_lost(e)) lease.discard();
    e.add_context({m_cfg.name, pool->host(), pool->role(), {}});
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
  // The event's views must outlive this call: keep copies in the callback.
  auto done = [this, sql_copy = std::string(sql), host = pool->host(), role = pool->role(),
               reason_copy = std::string(reason), intent, start](std::uint64_t rows, const Error* err) {
    QueryEvent e;
    e.connection = m_cfg.name;
    e.role = role;
    e.host = host;
    e.route = reason_copy;
    e.sql = sql_copy;
    e.bindings_redacted = true;  // the caller's parameters are gone by now
    e.intent = intent;
    e.duration = Clock::now() - start;
    e.rows = rows;
    e.error = err;
    try {
      fire(err ? &HookRegistry::Set::error : &HookRegistry::Set::after, e);
    } catch (...) {
      // A hook must not turn the end of a stream into a crash.
    }
  };
  return Cursor(std::make_unique<LeasedStream>(std::move(lease), std::move(src), std::move(done)));
}

// ---- queryable -------------------------------------------------------------

Value Queryable::scalar(std::string_view sql, Params params, Intent intent) {
  Result r = run(sql, params.span(), intent);
  if (r.empty() || r.columns().size() == 0) return {};
  return r[0][0];
}

}  // namespace plexus

#include "plexus/db/connection.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <random>

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
  m_any.store(true, std::memory_order_release);
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

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

const driver::Driver& require_driver(const ConnectionConfig& cfg) {
  if (const auto* d = driver::find(cfg.driver)) return *d;
  std::string list;
  for (auto n : driver::available()) list += (list.empty() ? "" : ", ") + std::string(n);
  throw ConfigError("connection '" + cfg.name + "': driver '" + cfg.driver +
                    "' is not compiled into this build of Plexus (available: " + list +
                    "); install its client library and rebuild with PLEXUS_WITH_" + upper(cfg.driver) + "=ON");
}

bool is_lost(const Error& e) { return e.is_connection_error(); }

}  // namespace

Connection::Connection(ConnectionConfig cfg, std::shared_ptr<const HookRegistry> global_hooks,
                       ConnectionBudget* budget)
    : m_cfg(std::move(cfg)), m_driver(&require_driver(m_cfg)), m_global(std::move(global_hooks)) {
  const Endpoint* primary = m_cfg.hosts.empty() ? nullptr : &m_cfg.hosts.front();
  // The pools belong to this connection and die with it.
  auto warn = [this](const std::string& msg) { this->warn(msg); };
  m_primary = std::make_unique<Pool>(*m_driver, m_cfg, primary, "primary", budget);
  m_primary->on_warning(warn);
  for (const auto& r : m_cfg.read_hosts) {
    auto rep = std::make_unique<Replica>();
    rep->pool = std::make_unique<Pool>(*m_driver, m_cfg, &r, "replica", budget);
    rep->pool->on_warning(warn);
    rep->weight = r.weight;
    m_replicas.push_back(std::move(rep));
  }
}

void Connection::on_warning(std::function<void(const std::string&)> fn) {
  auto next = std::make_shared<const WarnFn>(std::move(fn));
  std::lock_guard lock(m_warn_mutex);
  m_warn = std::move(next);
}

std::shared_ptr<const Connection::WarnFn> Connection::warn_fn() const {
  std::lock_guard lock(m_warn_mutex);
  return m_warn;
}

void Connection::warn(const std::string& msg) const {
  if (auto fn = warn_fn(); fn && *fn) (*fn)(msg);
}

void Connection::warm_up() {
  m_primary->warm_up();
  for (auto& r : m_replicas) r->pool->warm_up();
}

void Connection::close_idle() {
  m_primary->close_idle();
  for (auto& r : m_replicas) r->pool->close_idle();
}

Connection::~Connection() = default;

bool Connection::is_connected() {
  try {
    ping();
    return true;
  } catch (const Error&) {
    return false;
  }
}

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

std::string ConnectionHealth::status() const {
  if (!healthy) return "down";
  for (const auto& h : hosts)
    if (!h.reachable) return "degraded";
  return "healthy";
}

ConnectionHealth Connection::health() {
  ConnectionHealth h;
  h.name = m_cfg.name;
  h.type = m_cfg.driver;
  h.connected = m_primary->stats().open > 0;
  auto probe = [&](Pool& pool) {
    HostHealth hh;
    hh.role = pool.role();
    hh.host = pool.host();
    auto start = Clock::now();
    if (auto why = m_driver->missing(m_cfg, pool.endpoint())) {  // a probe never creates a database
      hh.error = *why;
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
    hh.pool = pool.stats();
    return hh;
  };
  h.hosts.push_back(probe(*m_primary));
  h.healthy = h.hosts.front().reachable;
  for (auto& r : m_replicas) {
    auto hh = probe(*r->pool);
    hh.ejected = !eligible(*r);
    if (hh.reachable) {
      try {
        auto lease = r->pool->acquire();
        hh.lag = lease->replica_lag();
      } catch (const Error&) {
        // Reachable a moment ago; the lag stays unknown.
      }
    }
    h.hosts.push_back(std::move(hh));
  }
  return h;
}

void Connection::atomically(const std::function<void(Queryable&)>& fn) {
  transaction([&](Transaction& tx) { fn(tx); });
}

Transaction Connection::begin() {
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
  ev.bindings_redacted = m_redact.load(std::memory_order_relaxed);
  if (!ev.bindings_redacted) ev.bindings = params;
  ev.intent = intent;
  ev.transaction_id = tx_id;
  return ev;
}

void Connection::fire(const std::vector<QueryHook> HookRegistry::Set::*which, const QueryEvent& ev) const {
  if (!hooked()) return;  // the common case costs one atomic load per call
  auto local = m_hooks->snapshot();
  for (const auto& h : (*local).*which) h(ev);
  if (m_global) {
    auto global = m_global->snapshot();
    for (const auto& h : (*global).*which) h(ev);
  }
}

namespace {

/// SQL text is handed to engines as C strings in places (libpq, SQLite's
/// parser stops at NUL): text past a NUL byte would be dropped and a
/// different statement run. Refused before anything is sent.
void refuse_nul(std::string_view sql) {
  const void* nul = std::memchr(sql.data(), 0, sql.size());
  if (!nul) [[likely]]
    return;
  const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - sql.data());
  UsageError e("the SQL text holds a NUL byte at offset " + std::to_string(at) +
               "; an engine would drop what follows it and run a different statement, so nothing was sent");
  e.set_sql(std::string(sql.substr(0, at)) + "\\0…");
  e.set_hint("pass values as bound parameters (Bytes for binary data), never inside the SQL text");
  throw e;
}

/// What the hooks see of a run that did not return one Result: its row count.
Result summary(std::uint64_t rows) {
  Result r;
  r.set_affected_rows(rows);
  return r;
}

/// The result an INSERT … RETURNING key would give, from the insert's row id.
Result key_result(Result inserted, std::string_view column) {
  if (!inserted.last_insert_id())
    throw UsageError("the engine reported no row id for the insert (column '" + std::string(column) + "')");
  Result r(Columns({std::string(column)}));
  *r.append_row() = Value(*inserted.last_insert_id());
  r.set_affected_rows(inserted.affected_rows());
  return r;
}

/// Runs a batch on one session; the summary counts the rows (or affected
/// rows) of every statement.
Result run_batch_on(driver::Session& s, std::string_view sql, std::span<const std::vector<Value>> sets,
                    std::vector<Result>& out) {
  out = s.execute_batch(sql, sets);
  std::uint64_t rows = 0;
  for (const auto& r : out) rows += r.columns().size() ? r.size() : r.affected_rows();
  return summary(rows);
}

}  // namespace

Result Connection::run_on(Pool::Lease& lease, const Pool& pool, std::string_view reason, std::string_view asked,
                          std::span<const Value> params, Intent intent, std::uint64_t tx_id, const Mode* mode) {
  // An insert whose key the session reads as the row id runs without
  // RETURNING (the driver decides); hooks see the statement that ran.
  refuse_nul(asked);
  const bool by_row_id = mode && mode->key && lease->key_is_row_id(mode->key->table, mode->key->column);
  const std::string_view sql = by_row_id ? mode->key->plain : asked;
  // Without hooks no event is built (the common case).
  const bool timed = hooked();
  QueryEvent ev;
  if (timed) {
    ev = event(pool, reason, sql, params, intent, tx_id);
    fire(&HookRegistry::Set::before, ev);
  }
  auto start = timed ? Clock::now() : Clock::time_point{};
  try {
    Result r = by_row_id               ? key_result(lease->execute(sql, params), mode->key->column)
               : !mode || mode->key    ? lease->execute(sql, params)
               : mode->script          ? summary(lease->execute_script(sql))
               : mode->visit           ? summary(lease->execute_each(sql, params, *mode->visit))
                                       : run_batch_on(*lease, sql, mode->sets, *mode->out);
    if (timed) {
      ev.duration = Clock::now() - start;
      ev.rows = r.columns().size() ? r.size() : r.affected_rows();
      fire(&HookRegistry::Set::after, ev);
    }
    return r;
  } catch (Error& e) {
    if (timed) ev.duration = Clock::now() - start;
    if (is_lost(e)) lease.discard();  // never hand a broken session out again
    e.add_context({m_cfg.name, pool.host(), pool.role(), {}});
    if (e.sql().empty()) e.set_sql(sql);
    if (hooked()) {
      if (!timed) ev = event(pool, reason, sql, params, intent, tx_id);  // a hook added while it ran
      ev.error = &e;
      fire(&HookRegistry::Set::error, ev);
    }
    throw;
  }
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
      if (e.is_connection_error()) m_lease.discard();
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

// ---- routing ---------------------------------------------------------------

namespace {

std::int64_t now_ticks() { return Clock::now().time_since_epoch().count(); }

std::string_view strategy_reason(LoadBalance lb) {
  switch (lb) {
    case LoadBalance::round_robin: return "read: round_robin";
    case LoadBalance::random: return "read: random";
    case LoadBalance::weighted: return "read: weighted";
    case LoadBalance::least_outstanding: return "read: least_outstanding";
  }
  return "read";
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen;
}

struct InFlight {
  std::atomic<int>& n;
  explicit InFlight(std::atomic<int>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
  ~InFlight() { n.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace

bool Connection::worth_another_host(const Error& e, const Mode* mode) noexcept {
  return e.is_connection_error() && !(mode && mode->started());
}

Consistency Connection::consistency(const RouteOptions& o) const noexcept {
  Consistency m = o.uow ? o.uow->mode() : Consistency::eventual;
  if (m != Consistency::from_config) return m;
  if (m_cfg.causal) return Consistency::causal;
  if (m_cfg.sticky) return Consistency::sticky;
  return Consistency::eventual;
}

bool Connection::eligible(const Replica& r) const noexcept {
  return r.ejected_until.load(std::memory_order_relaxed) <= now_ticks();
}

void Connection::eject(Replica& r, const Error& why) {
  auto until = Clock::now() + m_cfg.replica_cooldown;
  r.ejected_until.store(until.time_since_epoch().count(), std::memory_order_relaxed);
  r.pool->close_idle();  // sessions to a failed server are as good as dead
  warn("replica " + r.pool->host() + " of connection '" + m_cfg.name + "' left out for " +
       std::to_string(m_cfg.replica_cooldown.count()) + " ms after: " + why.message());
}

std::size_t Connection::first_replica() {
  const std::size_t n = m_replicas.size();
  std::size_t first = 0;
  switch (m_cfg.load_balance) {
    case LoadBalance::round_robin: first = m_next_replica.fetch_add(1, std::memory_order_relaxed) % n; break;
    case LoadBalance::random: first = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng()); break;
    case LoadBalance::weighted: {
      unsigned total = 0;
      for (const auto& r : m_replicas)
        if (eligible(*r)) total += r->weight;
      if (total > 0) {
        auto pick = std::uniform_int_distribution<unsigned>(0, total - 1)(rng());
        for (std::size_t i = 0; i < n; ++i) {
          if (!eligible(*m_replicas[i])) continue;
          if (pick < m_replicas[i]->weight) {
            first = i;
            break;
          }
          pick -= m_replicas[i]->weight;
        }
      }
      break;
    }
    case LoadBalance::least_outstanding: {
      int best = INT32_MAX;
      for (std::size_t i = 0; i < n; ++i) {
        int load = m_replicas[i]->in_flight.load(std::memory_order_relaxed);
        if (eligible(*m_replicas[i]) && load < best) {
          best = load;
          first = i;
        }
      }
      break;
    }
  }
  return first;
}

bool Connection::lag_ok(Replica& r, Pool::Lease& lease) {
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

void Connection::record_write(driver::Session& s, const RouteOptions& o) {
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

Pool::Lease Connection::acquire_or_report(Pool& pool, std::string_view reason, std::string_view sql,
                                          std::span<const Value> params, Intent intent) {
  try {
    return pool.acquire();
  } catch (Error& e) {
    e.set_sql(sql);
    QueryEvent ev = event(pool, reason, sql, params, intent, 0);
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
}

Result Connection::run_primary(std::string_view reason, std::string_view sql, std::span<const Value> params,
                               Intent intent, const RouteOptions& o, const Mode* mode) {
  auto lease = acquire_or_report(*m_primary, reason, sql, params, intent);
  if (intent == Intent::read) {
    // A read that failed because its session had died (a server restart
    // between the pool's check and the statement) runs once more on a fresh
    // session, as long as no row has reached the caller. Writes are not
    // rerun: the pool's check before handing a session out is what keeps
    // them from being sent on a dead one.
    try {
      return run_on(lease, *m_primary, reason, sql, params, intent, 0, mode);
    } catch (const Error& e) {
      if (!worth_another_host(e, mode)) throw;
    }
    lease = acquire_or_report(*m_primary, "read: again on a fresh session", sql, params, intent);
    return run_on(lease, *m_primary, "read: again on a fresh session", sql, params, intent, 0, mode);
  }
  Result r = run_on(lease, *m_primary, reason, sql, params, intent, 0, mode);
  if (intent == Intent::write && o.uow) record_write(*lease, o);
  return r;
}

std::vector<Result> Connection::batch_routed(std::string_view sql, std::span<const std::vector<Value>> sets,
                                             Intent intent, const RouteOptions& o) {
  std::vector<Result> out;
  if (sets.empty()) return out;
  if (intent == Intent::write) {
    // All or nothing, on every engine (PostgreSQL would otherwise commit each pipelined chunk on its own).
    RoutedConnection routed(*this, o);
    return routed.transaction([&](Transaction& tx) { return tx.execute_batch(sql, sets); });
  }
  Mode batch{sets, &out, nullptr};
  run_routed(sql, sets.front(), intent, o, &batch);
  return out;
}

std::uint64_t Connection::each_routed(std::string_view sql, std::span<const Value> params, Intent intent,
                                    const RowVisitor& visit, const RouteOptions& o) {
  Mode mode{{}, nullptr, &visit};
  return run_routed(sql, params, intent, o, &mode).affected_rows();
}

std::uint64_t Connection::script_routed(std::string_view sql, const RouteOptions& o) {
  Mode mode{{}, nullptr, nullptr, nullptr, true};
  return run_routed(sql, {}, Intent::write, o, &mode).affected_rows();
}

Result Connection::insert_key_routed(const KeyedInsert& ins, std::span<const Value> params, const RouteOptions& o) {
  Mode mode{{}, nullptr, nullptr, &ins};
  return run_routed(ins.returning, params, Intent::write, o, &mode);
}

Result Connection::run_routed(std::string_view sql, std::span<const Value> params, Intent intent,
                              const RouteOptions& o, const Mode* mode) {
  refuse_if_read_only(sql, intent);
  if (intent == Intent::write) return run_primary("write", sql, params, intent, o, mode);
  if (o.side == RouteOptions::Side::primary) return run_primary("read: forced primary", sql, params, intent, o, mode);
  if (m_replicas.empty()) {
    if (o.side == RouteOptions::Side::replica)
      throw UsageError("connection '" + m_cfg.name + "' has no read_hosts, so on_replica() cannot be served");
    return run_primary("read", sql, params, intent, o, mode);
  }

  if (o.uow && o.side != RouteOptions::Side::replica && o.uow->wrote(m_cfg.name)) {
    switch (consistency(o)) {
      case Consistency::sticky: return run_primary("read: sticky (this unit wrote)", sql, params, intent, o, mode);
      case Consistency::causal: {
        auto pos = o.uow->position(m_cfg.name);
        if (!pos) return run_primary("read: causal (no position, primary)", sql, params, intent, o, mode);
        // Wait on one replica only: waiting on each in turn would multiply the bound.
        for (std::size_t k = 0, first = first_replica(), n = m_replicas.size(); k < n; ++k) {
          std::size_t i = (first + k) % n;
          Replica& r = *m_replicas[i];
          if (!eligible(r)) continue;
          try {
            auto lease = r.pool->acquire();
            if (!lease->wait_for_position(*pos, m_cfg.causal_wait)) break;
            InFlight guard(r.in_flight);
            return run_on(lease, *r.pool, "read: causal (replica caught up)", sql, params, intent, 0, mode);
          } catch (Error& e) {
            if (!worth_another_host(e, mode)) throw;
            eject(r, e);
          }
        }
        return run_primary("read: causal (replica behind, primary)", sql, params, intent, o, mode);
      }
      default: break;
    }
  }

  const std::string_view reason = strategy_reason(m_cfg.load_balance);
  std::optional<Error> last;
  for (std::size_t k = 0, first = first_replica(), n = m_replicas.size(); k < n; ++k) {
    std::size_t i = (first + k) % n;
    Replica& r = *m_replicas[i];
    if (!eligible(r)) continue;
    try {
      auto lease = r.pool->acquire();
      if (!lag_ok(r, lease)) continue;
      InFlight guard(r.in_flight);
      return run_on(lease, *r.pool, reason, sql, params, intent, 0, mode);
    } catch (Error& e) {
      if (!worth_another_host(e, mode)) throw;
      eject(r, e);
      last = e;
    }
  }
  if (o.side == RouteOptions::Side::replica) {
    ConnectionError e("no replica of connection '" + m_cfg.name + "' can serve this read" +
                      (last ? " (last error: " + last->message() + ")" : std::string(" (all are left out or lagging)")));
    e.set_sql(sql);
    e.add_context({m_cfg.name, {}, "replica", {}});
    e.set_hint("drop on_replica() to let the primary serve it");
    throw e;
  }
  return run_primary("read: fallback to primary (no replica available)", sql, params, intent, o, mode);
}

Cursor Connection::cursor_routed(std::string_view sql, std::span<const Value> params, Intent intent,
                                 const RouteOptions& o) {
  refuse_nul(sql);
  refuse_if_read_only(sql, intent);
  // Pick a host as a read would (no retry once rows flow).
  Pool* pool = m_primary.get();
  std::string_view reason = intent == Intent::write ? "write" : "read";
  Pool::Lease lease;
  bool replica_ok = intent == Intent::read && o.side != RouteOptions::Side::primary && !m_replicas.empty() &&
                    !(o.uow && o.uow->wrote(m_cfg.name) && consistency(o) != Consistency::eventual);
  if (replica_ok) {
    for (std::size_t k = 0, first = first_replica(), n = m_replicas.size(); k < n; ++k) {
      std::size_t i = (first + k) % n;
      Replica& r = *m_replicas[i];
      if (!eligible(r)) continue;
      try {
        lease = r.pool->acquire();
        if (!lag_ok(r, lease)) {
          lease.release();
          continue;
        }
        pool = r.pool.get();
        reason = strategy_reason(m_cfg.load_balance);
        break;
      } catch (Error& e) {
        if (!e.is_connection_error()) throw;
        eject(r, e);
      }
    }
  }
  if (!lease) {
    if (o.side == RouteOptions::Side::replica)
      throw ConnectionError("no replica of connection '" + m_cfg.name + "' can serve this cursor");
    if (replica_ok) reason = "read: fallback to primary (no replica available)";
    lease = acquire_or_report(*m_primary, reason, sql, params, intent);
  }
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

// ---- routed view -------------------------------------------------------------

const std::string& RoutedConnection::driver() const noexcept { return m_conn->driver(); }

void RoutedConnection::atomically(const std::function<void(Queryable&)>& fn) {
  transaction([&](Transaction& tx) { fn(tx); });
}

Result RoutedConnection::run(std::string_view sql, std::span<const Value> params, Intent intent) {
  return m_conn->run_routed(sql, params, intent, m_opts);
}

std::uint64_t RoutedConnection::run_each(std::string_view sql, std::span<const Value> params, Intent intent,
                                         const RowVisitor& visit) {
  return m_conn->each_routed(sql, params, intent, visit, m_opts);
}

std::vector<Result> RoutedConnection::run_batch(std::string_view sql, std::span<const std::vector<Value>> sets,
                                                Intent intent) {
  return m_conn->batch_routed(sql, sets, intent, m_opts);
}

std::uint64_t RoutedConnection::run_script(std::string_view sql) { return m_conn->script_routed(sql, m_opts); }

Result RoutedConnection::run_insert_key(const KeyedInsert& ins, std::span<const Value> params) {
  return m_conn->insert_key_routed(ins, params, m_opts);
}

Cursor RoutedConnection::open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) {
  return m_conn->cursor_routed(sql, params, intent, m_opts);
}

// ---- queryable -------------------------------------------------------------

Value Queryable::scalar(std::string_view sql, Params params, Intent intent) {
  Result r = run(sql, params.span(), intent);
  if (r.empty() || r.columns().size() == 0) return {};
  return r[0][0];
}

}  // namespace plexus

#include "db/executor.hpp"

#include <cstring>

#include "db/metrics.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus::detail {

using Clock = std::chrono::steady_clock;

// ---- hooks -----------------------------------------------------------------------

template <class F>
void HookRegistry::edit(F&& f) {
  std::lock_guard lock(m_mutex);
  auto next = std::make_shared<Set>(*m_set);
  f(*next);
  m_set = std::move(next);
  m_any.store(true, std::memory_order_release);
}
HookHandle HookRegistry::add(std::vector<Entry> Set::*which, QueryHook h, const char* what) {
  if (!h) throw UsageError(std::string(what) + " was given an empty hook (nullptr or an empty std::function); pass a callable");
  std::uint64_t id = 0;
  edit([&](Set& s) {
    id = ++m_next_id;
    (s.*which).push_back({id, std::move(h)});
  });
  return HookHandle(m_self, id);
}
void HookRegistry::remove(std::uint64_t id) {
  edit([&](Set& s) {
    for (auto* list : {&s.before, &s.after, &s.error})
      std::erase_if(*list, [id](const Entry& e) { return e.id == id; });
  });
}
std::shared_ptr<const HookRegistry::Set> HookRegistry::snapshot() const {
  std::lock_guard lock(m_mutex);
  return m_set;
}

}  // namespace plexus::detail

namespace plexus {
void HookHandle::remove() {
  if (auto registry = m_registry.lock(); registry && m_id != 0) (*registry)->remove(m_id);
  m_id = 0;
}
}  // namespace plexus

namespace plexus::detail {

// ---- executor ----------------------------------------------------------------------

void refuse_nul_at(std::string_view sql, const void* nul) {
  const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - sql.data());
  UsageError e("the SQL text holds a NUL byte at offset " + std::to_string(at) +
               "; an engine would drop what follows it and run a different statement, so nothing was sent");
  e.set_sql(std::string(sql.substr(0, at)) + "\\0…");
  e.set_hint("pass values as bound parameters (Bytes for binary data), never inside the SQL text");
  throw e;
}

namespace {

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
  // The one-column list is kept per thread for the last key name: inserts in a
  // loop share it instead of allocating a list per row.
  thread_local std::string last_column;
  thread_local Columns last_columns;
  if (last_columns.size() != 1 || last_column != column) {
    last_column.assign(column);
    last_columns = Columns({last_column});
  }
  Result r(last_columns);
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

/// Keeps the session leased while rows stream, and reports the query to the
/// hooks when the stream ends.
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

Executor::Executor(const ConnectionConfig& cfg, std::shared_ptr<const HookRegistry> global)
    : m_cfg(cfg), m_global(std::move(global)) {}

QueryEvent Executor::event(const RunContext& at, std::string_view sql, std::span<const Value> params, Intent intent) const {
  QueryEvent ev;
  ev.connection = m_cfg.name;
  ev.role = at.pool.role();
  ev.host = at.pool.host();
  ev.route = at.reason;
  ev.sql = sql;
  ev.bindings_redacted = m_redact.load(std::memory_order_relaxed);
  if (!ev.bindings_redacted) ev.bindings = params;
  ev.intent = intent;
  ev.transaction_id = at.tx_id;
  ev.attempt = at.attempt;
  ev.global_id = at.global_id;
  return ev;
}

void Executor::report_retry(const Pool& primary, const Error& why, unsigned next, unsigned max) {
  if (!hooked()) return;
  const std::string route = "transaction: retry " + std::to_string(next) + " of " + std::to_string(max) + " after " +
                            std::string(to_string(why.kind())) + (why.sqlstate().empty() ? "" : " " + why.sqlstate());
  QueryEvent ev = event(RunContext{primary, route, 0, next}, "ROLLBACK", {}, Intent::write);
  fire(&HookRegistry::Set::after, ev);
}

void Executor::fire(std::vector<HookRegistry::Entry> HookRegistry::Set::*which, const QueryEvent& ev) const {
  if (!hooked()) return;  // the common case costs one atomic load per call
  auto local = m_hooks.snapshot();
  for (const auto& h : (*local).*which) h.fn(ev);
  if (m_global) {
    auto global = m_global->snapshot();
    for (const auto& h : (*global).*which) h.fn(ev);
  }
}

void Executor::failed(Error& e, Pool::Lease& lease, const RunContext& at, std::string_view sql, std::span<const Value> params,
                      Intent intent, std::chrono::nanoseconds took, QueryEvent* ev) {
  at.pool.metrics().record(intent, took, &e);
  if (e.is_connection_error()) lease.discard();  // never hand a broken session out again
  e.add_context({m_cfg.name, at.pool.host(), at.pool.role(), {}});
  if (e.sql().empty()) e.set_sql(sql);
  if (m_redact.load(std::memory_order_relaxed)) e.redact_values(params);
  if (!hooked()) return;
  QueryEvent added;
  if (!ev) {  // a hook added while it ran
    added = event(at, sql, params, intent);
    ev = &added;
  }
  ev->duration = took;
  ev->error = &e;
  fire(&HookRegistry::Set::error, *ev);
}

template <class Body, class Rows>
[[gnu::always_inline]] inline auto Executor::measured(Pool::Lease& lease, const RunContext& at, std::string_view sql,
                                                      std::span<const Value> params, Intent intent, Body&& body,
                                                      Rows&& rows) -> decltype(body()) {
  refuse_nul(sql);
  if (!hooked()) [[likely]] {  // the common case: metrics alone time it, no event is built
    const auto start = Clock::now();
    try {
      auto r = body();
      at.pool.metrics().record(intent, Clock::now() - start, nullptr);
      return r;
    } catch (Error& e) {
      failed(e, lease, at, sql, params, intent, Clock::now() - start, nullptr);
      throw;
    }
  }
  Started started = start(at, sql, params, intent);
  try {
    auto r = body();
    finish(started, at, intent, rows(r));
    return r;
  } catch (Error& e) {
    fail(started, e, lease, at, sql, params, intent);
    throw;
  }
}

Executor::Started Executor::start(const RunContext& at, std::string_view sql, std::span<const Value> params,
                                  Intent intent) {
  refuse_nul(sql);
  Started s;
  if (hooked()) {
    s.ev.emplace(event(at, sql, params, intent));
    fire(&HookRegistry::Set::before, *s.ev);
  }
  s.start = Clock::now();
  return s;
}

void Executor::finish(Started& s, const RunContext& at, Intent intent, std::uint64_t rows) {
  const auto took = Clock::now() - s.start;
  at.pool.metrics().record(intent, took, nullptr);
  if (!s.ev) return;
  s.ev->duration = took;
  s.ev->rows = rows;
  fire(&HookRegistry::Set::after, *s.ev);
}

std::uint64_t Executor::run(Pool::Lease& lease, const RunContext& at, const Statement& s, InFlight* in_flight) {
  using Kind = Statement::Kind;
  switch (s.kind) {
    case Kind::each:
      return measured(lease, at, s.sql, s.params, s.intent, [&] { return lease->execute_each(s.sql, s.params, *s.visit); },
                      [](std::uint64_t n) { return n; });
    case Kind::cursor: {
      // The replica counts the cursor in flight until it closes.
      std::function<void()> on_close;
      if (in_flight) on_close = [token = std::make_shared<InFlight>(std::move(*in_flight))]() mutable { token.reset(); };
      s.cursor->emplace(stream(std::move(lease), at, s, std::move(on_close)));
      return 0;
    }
    default: break;
  }
  auto rows = [](const Result& r) -> std::uint64_t { return r.columns().size() ? r.size() : r.affected_rows(); };
  if (s.kind == Kind::query) [[likely]] {
    // Straight into the caller's Result (no Result in between to move and destroy).
    return measured(lease, at, s.sql, s.params, s.intent, [&]() -> std::uint64_t {
      *s.result = lease->execute(s.sql, s.params);
      return 0;
    }, [&](std::uint64_t) { return rows(*s.result); });
  }
  if (s.kind == Kind::insert_key) {
    // An insert whose key the session reads as the row id runs without
    // RETURNING (the engine decides); hooks see the statement that ran.
    const KeyedInsert& key = *s.key;
    const bool by_row_id = lease->key_is_row_id(key.table, key.column, key.plain);
    const std::string_view sql = by_row_id ? key.plain : s.sql;
    return measured(lease, at, sql, s.params, s.intent, [&]() -> std::uint64_t {
      if (by_row_id) *s.result = key_result(lease->execute(sql, s.params), key.column);
      else *s.result = lease->execute(sql, s.params);
      return 0;
    }, [&](std::uint64_t) { return rows(*s.result); });
  }
  // A batch (its results into the statement's) or a script: their summary.
  const Result summed = measured(lease, at, s.sql, s.params, s.intent, [&]() -> Result {
    if (s.kind == Kind::script) return summary(lease->execute_script(s.sql));
    return run_batch_on(*lease, s.sql, s.sets, *s.results);
  }, rows);
  return s.kind == Kind::script ? summed.affected_rows() : 0;
}

Cursor Executor::stream(Pool::Lease lease, const RunContext& at, const Statement& s, std::function<void()> on_close) {
  const std::string_view sql = s.sql;
  const std::span<const Value> params = s.params;
  const Intent intent = s.intent;
  refuse_nul(sql);
  auto ev = event(at, sql, params, intent);
  fire(&HookRegistry::Set::before, ev);
  auto start = Clock::now();
  std::unique_ptr<RowSource> src;
  try {
    src = lease->stream(sql, params);
  } catch (Error& e) {
    if (e.is_connection_error()) lease.discard();
    e.add_context({m_cfg.name, at.pool.host(), at.pool.role(), {}});
    if (m_redact.load(std::memory_order_relaxed)) e.redact_values(params);
    ev.duration = Clock::now() - start;
    at.pool.metrics().record(intent, ev.duration, &e);
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
  // The event's views must outlive this call: keep copies in the callback.
  auto done = [this, pool = &at.pool, sql_copy = std::string(sql), host = at.pool.host(), role = at.pool.role(),
               reason_copy = std::string(at.reason), intent, start,
               on_close = std::move(on_close)](std::uint64_t rows, const Error* err) {
    if (on_close) on_close();
    pool->metrics().record(intent, Clock::now() - start, err);
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

void Executor::transaction_step(Pool::Lease& lease, const RunContext& at, std::string_view what,
                                const std::function<void(driver::Session&)>& step) {
  auto ev = event(at, what, {}, Intent::write);
  fire(&HookRegistry::Set::before, ev);
  auto start = Clock::now();
  try {
    step(*lease);
    ev.duration = Clock::now() - start;
    at.pool.metrics().record(Intent::write, ev.duration, nullptr);
    fire(&HookRegistry::Set::after, ev);
  } catch (Error& e) {
    e.add_context({m_cfg.name, at.pool.host(), at.pool.role(), {}});
    ev.duration = Clock::now() - start;
    at.pool.metrics().record(Intent::write, ev.duration, &e);
    ev.error = &e;
    fire(&HookRegistry::Set::error, ev);
    throw;
  }
}

void Executor::acquire_failed(Error& e, const Pool& pool, std::string_view reason, std::string_view sql,
                              std::span<const Value> params, Intent intent) {
  report_acquire_failure(e, pool, reason, sql, params, intent);
  throw;
}

void Executor::report_acquire_failure(Error& e, const Pool& pool, std::string_view reason, std::string_view sql,
                                      std::span<const Value> params, Intent intent) {
  e.set_sql(sql);
  pool.metrics().record(intent, std::chrono::nanoseconds(0), &e);
  QueryEvent ev = event(RunContext{pool, reason}, sql, params, intent);
  ev.error = &e;
  fire(&HookRegistry::Set::error, ev);
}

void Executor::refuse_write(std::string_view sql, const Pool& primary) const {
  ReadOnlyError e("connection is configured read_only = true and refuses writes");
  e.set_sql(sql);
  e.add_context({m_cfg.name, primary.host(), "primary", {}});
  e.set_hint("run it on a writable connection, or pass Intent::read if the statement only reads");
  throw e;
}

}  // namespace plexus::detail

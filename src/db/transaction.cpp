#include "plexus/db/transaction.hpp"

#include "db/connection_core.hpp"
#include <random>
#include <thread>

#include "plexus/core/error.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus {

Transaction::Transaction(Connection& conn, detail::ConnectionCore& core, Pool::Lease lease, std::uint64_t id,
                         unsigned attempt)
    : m_conn(&conn), m_core(&core), m_lease(std::move(lease)), m_id(id), m_attempt(attempt) {}

Transaction::Transaction(Transaction&& o) noexcept
    : m_conn(o.m_conn), m_core(o.m_core), m_lease(std::move(o.m_lease)), m_id(o.m_id), m_depth(o.m_depth),
      m_attempt(o.m_attempt), m_active(o.m_active), m_committed(o.m_committed), m_uow(o.m_uow),
      m_global_id(std::move(o.m_global_id)) {
  o.m_active = false;
}

Transaction::~Transaction() { abandon(); }

void Transaction::abandon() noexcept {
  if (!m_active) return;
  try {
    finish(false);
  } catch (...) {
    // Rolling back during unwinding must not terminate; a session that could
    // not roll back has been discarded by finish().
  }
}

void Transaction::check_active() const {
  if (!m_active)
    throw UsageError("transaction " + std::to_string(m_id) + " on connection '" + m_core->cfg.name +
                     "' is already committed or rolled back");
  if (!m_lease) {
    // The session died under us; the server has rolled the work back.
    ConnectionError e("the connection was lost during transaction " + std::to_string(m_id) +
                      "; the server rolled it back, so nothing of it was committed");
    e.add_context({m_core->cfg.name, m_core->primary().host(), "primary", {}});
    e.set_hint("run the whole transaction again");
    throw e;
  }
}

void Transaction::finish(bool commit) {
  if (m_active && !m_lease && !commit) {  // lost session: nothing left to roll back
    m_active = false;
    return;
  }
  check_active();
  m_active = false;
  detail::finish_step(*m_core, m_lease, m_id, m_attempt, commit);
  m_committed = commit;
  if (commit && m_uow) {
    try {
      m_core->router.record_write(*m_lease, RouteOptions{m_uow, RouteOptions::Side::any});
    } catch (const Error&) {
      // Committed; only the follow-up (a replication position) failed.
    }
  }
  m_lease.release();
}

const std::string& Transaction::engine() const noexcept { return m_core->cfg.driver; }
const Grammar& Transaction::grammar() const noexcept { return m_core->grammar; }

void Transaction::commit() {
  if (!m_global_id.empty())
    throw UsageError("transaction " + std::to_string(m_id) + " on connection '" + m_core->cfg.name +
                     "' is a branch of global transaction " + m_global_id + ": commit the GlobalTransaction");
  finish(true);
}
void Transaction::rollback() { finish(false); }

std::uint64_t Transaction::run(const Statement& s) {
  check_active();
  m_core->exec.refuse_if_read_only(s.sql, s.intent, m_core->primary());
  const detail::RunContext here{m_core->primary(), "transaction", m_id, m_attempt, m_global_id};
  if (s.kind == Statement::Kind::cursor) {
    // Rows are materialised here: the transaction's session must stay free for
    // the statements that follow. Stream large reads outside a transaction.
    Result rows;
    Statement all = s;
    all.kind = Statement::Kind::query;
    all.result = &rows;
    m_core->exec.run(m_lease, here, all);
    s.cursor->emplace(RowSource::of(std::move(rows)));
    return 0;
  }
  return m_core->exec.run(m_lease, here, s);
}

std::string Transaction::savepoint() {
  check_active();
  std::string name = "plexus_sp_" + std::to_string(++m_depth);
  m_lease->savepoint(name);
  return name;
}

void Transaction::release(const std::string& sp) {
  m_lease->release_savepoint(sp);
  --m_depth;
}

void Transaction::rollback_to(const std::string& sp) {
  --m_depth;
  if (!m_active || !m_lease) return;
  try {
    m_lease->rollback_to_savepoint(sp);
    m_lease->release_savepoint(sp);
  } catch (const Error&) {
    // The outer transaction cannot go on safely.
    m_active = false;
    m_lease.discard();
  }
}

namespace detail {

bool may_retry(const Error& e, bool committed, unsigned attempt, const RetryPolicy& p) noexcept {
  return !committed && e.is_retryable() && attempt < p.attempts;
}

std::chrono::microseconds retry_wait(Connection& c, const Error& e, unsigned attempt, const RetryPolicy& p) {
  auto& core = core_of(c);
  bump(core.metrics.retries);
  core.exec.report_retry(core.primary(), e, attempt + 1, p.attempts);
  // Full jitter: a random wait up to the doubled backoff, so two
  // transactions that collided do not collide again in step.
  auto cap = p.backoff * (1LL << std::min(attempt - 1, 20u));
  if (cap > p.max_backoff) cap = p.max_backoff;
  if (cap.count() <= 0) return std::chrono::microseconds(0);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(0, cap.count() * 1000)(rng));
}

void before_retry(Connection& c, const Error& e, unsigned attempt, const RetryPolicy& p) {
  std::this_thread::sleep_for(retry_wait(c, e, attempt, p));
}

void begin_step(ConnectionCore& core, Pool::Lease& lease, const TransactionOptions& opts, std::uint64_t id,
                unsigned attempt) {
  const driver::TransactionSpec spec{opts.isolation, opts.read_only};
  try {
    core.exec.transaction_step(lease, RunContext{core.primary(), "transaction", id, attempt}, "BEGIN",
                               [&spec](driver::Session& s) {
                                 if (spec.plain()) s.begin();
                                 else s.begin(spec);
                               });
  } catch (const Error& e) {
    if (e.is_connection_error()) lease.discard();
    throw;
  }
}

void finish_step(ConnectionCore& core, Pool::Lease& lease, std::uint64_t id, unsigned attempt, bool commit) {
  try {
    core.exec.transaction_step(lease, RunContext{core.primary(), "transaction", id, attempt}, commit ? "COMMIT" : "ROLLBACK",
                               [commit](driver::Session& s) {
                                 if (commit) s.commit();
                                 else s.rollback();
                               });
  } catch (const Error&) {
    // The session's state is unknown: never return it to the pool.
    lease.discard();
    throw;
  }
}

}  // namespace detail
}  // namespace plexus

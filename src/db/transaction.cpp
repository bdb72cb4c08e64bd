#include "plexus/db/transaction.hpp"

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"

namespace plexus {

Transaction::Transaction(Connection& conn, Pool& pool, Pool::Lease lease, std::uint64_t id)
    : m_conn(&conn), m_pool(&pool), m_lease(std::move(lease)), m_id(id) {}

Transaction::Transaction(Transaction&& o) noexcept
    : m_conn(o.m_conn), m_pool(o.m_pool), m_lease(std::move(o.m_lease)), m_id(o.m_id), m_depth(o.m_depth),
      m_active(o.m_active), m_after_commit(std::move(o.m_after_commit)) {
  o.m_active = false;
}

Transaction::~Transaction() {
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
    throw UsageError("transaction " + std::to_string(m_id) + " on connection '" + m_conn->name() +
                     "' is already committed or rolled back");
  if (!m_lease) {
    // The session died under us; the server has rolled the work back.
    ConnectionError e("the connection was lost during transaction " + std::to_string(m_id) +
                      "; the server rolled it back, so nothing of it was committed");
    e.add_context({m_conn->name(), m_pool->host(), m_pool->role(), {}});
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
  const char* sql = commit ? "COMMIT" : "ROLLBACK";
  auto ev = m_conn->event(*m_pool, "transaction", sql, {}, Intent::write, m_id);
  m_conn->fire(&HookRegistry::Set::before, ev);
  auto start = std::chrono::steady_clock::now();
  try {
    if (commit) m_lease->commit();
    else m_lease->rollback();
    if (commit && m_after_commit) {
      try {
        m_after_commit(*m_lease);
      } catch (const Error&) {
        // Committed; only the follow-up (a replication position) failed.
      }
    }
    ev.duration = std::chrono::steady_clock::now() - start;
    m_lease.release();
    m_conn->fire(&HookRegistry::Set::after, ev);
  } catch (Error& e) {
    // The session's state is unknown: never return it to the pool.
    m_lease.discard();
    e.add_context({m_conn->name(), m_pool->host(), m_pool->role(), {}});
    ev.error = &e;
    m_conn->fire(&HookRegistry::Set::error, ev);
    throw;
  }
}

const std::string& Transaction::driver() const noexcept { return m_conn->driver(); }

void Transaction::commit() { finish(true); }
void Transaction::rollback() { finish(false); }

Result Transaction::run(std::string_view sql, std::span<const Value> params, Intent intent) {
  check_active();
  m_conn->refuse_if_read_only(sql, intent);
  return m_conn->run_on(m_lease, *m_pool, "transaction", sql, params, intent, m_id);
}

std::uint64_t Transaction::run_each(std::string_view sql, std::span<const Value> params, Intent intent,
                                    const RowVisitor& visit) {
  check_active();
  m_conn->refuse_if_read_only(sql, intent);
  Connection::Mode mode{{}, nullptr, &visit};
  return m_conn->run_on(m_lease, *m_pool, "transaction", sql, params, intent, m_id, &mode).affected_rows();
}

Result Transaction::run_insert_key(const KeyedInsert& ins, std::span<const Value> params) {
  check_active();
  m_conn->refuse_if_read_only(ins.returning, Intent::write);
  Connection::Mode mode{{}, nullptr, nullptr, &ins};
  return m_conn->run_on(m_lease, *m_pool, "transaction", ins.returning, params, Intent::write, m_id, &mode);
}

std::uint64_t Transaction::run_script(std::string_view sql) {
  check_active();
  m_conn->refuse_if_read_only(sql, Intent::write);
  Connection::Mode mode{{}, nullptr, nullptr, nullptr, true};
  return m_conn->run_on(m_lease, *m_pool, "transaction", sql, {}, Intent::write, m_id, &mode).affected_rows();
}

std::vector<Result> Transaction::run_batch(std::string_view sql, std::span<const std::vector<Value>> sets,
                                           Intent intent) {
  check_active();
  m_conn->refuse_if_read_only(sql, intent);
  std::vector<Result> out;
  if (sets.empty()) return out;
  Connection::Mode batch{sets, &out, nullptr};
  m_conn->run_on(m_lease, *m_pool, "transaction", sql, sets.front(), intent, m_id, &batch);
  return out;
}

Cursor Transaction::open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) {
  check_active();
  m_conn->refuse_if_read_only(sql, intent);
  // Rows are materialised here: the transaction's session must stay free for
  // the statements that follow. Stream large reads outside a transaction.
  Result r = run(sql, params, intent);
  class Owned final : public RowSource {
   public:
    explicit Owned(Result res) : m_r(std::move(res)) {}
    const Columns& columns() const override { return m_r.columns(); }
    bool next(std::vector<Value>& row) override {
      if (m_i >= m_r.size()) return false;
      Row src = m_r[m_i++];
      row.assign(src.begin(), src.end());
      return true;
    }

   private:
    Result m_r;
    std::size_t m_i = 0;
  };
  return Cursor(std::make_unique<Owned>(std::move(r)));
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

}  // namespace plexus

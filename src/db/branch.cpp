#include "db/branch.hpp"

#include "db/connection_core.hpp"
#include "plexus/core/error.hpp"

namespace plexus::detail {

namespace {
RunContext place_of(ConnectionCore& core, const Transaction& tx, const std::string& gid) {
  return RunContext{core.primary(), "two-phase commit", tx.id(), 1, gid};
}
}  // namespace

Transaction BranchAccess::begin(Connection& conn, const std::optional<driver::Xid>& xid,
                                const TransactionOptions& opts, const std::string& global_id) {
  auto& core = core_of(conn);
  if (xid && !core.engine.capabilities().two_phase_commit)
    throw UsageError("connection '" + conn.name() + "' (" + conn.type() + ") cannot prepare a transaction");
  // Its first statement, named in an error while opening the session (the
  // engine spells it; the session is not open yet, so ask no session).
  const std::string first = xid ? "the start of two-phase branch " + xid->to_string() : std::string("BEGIN");
  auto lease = core.router.writer_session("two-phase commit", first);
  if (xid)
    if (auto why = lease->refuses_two_phase_commit())
      throw UsageError("connection '" + conn.name() + "' cannot join a transaction across connections: " + *why +
                       "; commit it on its own (conn.transaction) or keep it out of db.transaction({…})");
  const auto id = ++core.tx_counter;
  const driver::TransactionSpec spec{opts.isolation, opts.read_only};
  try {
    core.exec.transaction_step(lease, RunContext{core.primary(), "two-phase commit", id, 1, global_id},
                               xid ? lease->xa_statement(driver::Session::XaStep::begin, *xid) : std::string("BEGIN"),
                               [&](driver::Session& s) {
                                 if (xid) s.xa_begin(*xid, spec);
                                 else if (spec.plain()) s.begin();
                                 else s.begin(spec);
                               });
  } catch (const Error& e) {
    if (e.is_connection_error()) lease.discard();
    throw;
  }
  Transaction tx(conn, core, std::move(lease), id);
  tx.m_global_id = global_id;
  return tx;
}

void BranchAccess::prepare(Transaction& tx, const driver::Xid& xid) {
  tx.check_active();
  try {
    tx.m_core->exec.transaction_step(tx.m_lease, place_of(*tx.m_core, tx, tx.m_global_id),
                                     tx.m_lease->xa_statement(driver::Session::XaStep::prepare, xid),
                                     [&](driver::Session& s) { s.xa_prepare(xid); });
  } catch (const Error& e) {
    if (e.is_connection_error()) {
      tx.m_lease.discard();
      tx.m_active = false;
    }
    throw;
  }
}

void BranchAccess::commit_prepared(Transaction& tx, const driver::Xid& xid) {
  auto& core = *tx.m_core;
  // A branch whose session was lost is committed from a fresh one.
  if (!tx.m_lease) tx.m_lease = core.primary().acquire();
  try {
    core.exec.transaction_step(tx.m_lease, place_of(core, tx, tx.m_global_id),
                               tx.m_lease->xa_statement(driver::Session::XaStep::commit, xid),
                               [&](driver::Session& s) { s.xa_commit(xid); });
  } catch (const Error& e) {
    if (e.is_connection_error()) tx.m_lease.discard();
    throw;
  }
  tx.m_active = false;
  tx.m_committed = true;
  tx.m_lease.release();
}

void BranchAccess::commit_plain(Transaction& tx) {
  tx.check_active();
  tx.m_active = false;
  try {
    tx.m_core->exec.transaction_step(tx.m_lease, place_of(*tx.m_core, tx, tx.m_global_id), "COMMIT",
                                     [](driver::Session& s) { s.commit(); });
  } catch (const Error&) {
    tx.m_lease.discard();
    throw;
  }
  tx.m_committed = true;
  tx.m_lease.release();
}

void BranchAccess::rollback(Transaction& tx, const std::optional<driver::Xid>& xid, bool prepared) noexcept {
  try {
    auto& core = *tx.m_core;
    if (!tx.m_lease) {
      if (!prepared) {  // the session died: the server rolled the branch back
        tx.m_active = false;
        return;
      }
      tx.m_lease = core.primary().acquire();
    }
    using Step = driver::Session::XaStep;
    const std::string what =
        xid ? tx.m_lease->xa_statement(prepared ? Step::rollback_prepared : Step::rollback, *xid) : std::string("ROLLBACK");
    core.exec.transaction_step(tx.m_lease, place_of(core, tx, tx.m_global_id), what, [&](driver::Session& s) {
      if (xid) s.xa_rollback(*xid, prepared);
      else s.rollback();
    });
    tx.m_active = false;
    tx.m_lease.release();
  } catch (...) {
    tx.m_active = false;
    tx.m_lease.discard();  // its state is unknown; recovery resolves a prepared branch
  }
}

Result BranchAccess::run_as(Connection& conn, const std::string& global_id, std::string_view sql, Params params) {
  auto& core = core_of(conn);
  auto lease = core.exec.acquire(core.primary(), "two-phase commit", sql, params.span(), Intent::write);
  Result out;
  core.exec.run(lease, RunContext{core.primary(), "two-phase commit", 0, 1, global_id},
                Statement{.kind = Statement::Kind::query, .sql = sql, .params = params.span(), .result = &out});
  return out;
}

void BranchAccess::recover_on(Connection& conn, const std::function<void(Recovery&)>& fn) {
  auto& core = core_of(conn);
  auto lease = core.primary().acquire();
  Recovery r(conn, lease);
  try {
    fn(r);
  } catch (Error& e) {
    if (e.is_connection_error()) lease.discard();
    e.add_context({conn.name(), core.primary().host(), "primary", {}});
    throw;
  }
}

void BranchAccess::Recovery::step(const std::string& global_id, std::string_view what,
                                  const std::function<void(driver::Session&)>& fn) {
  auto& core = core_of(m_conn);
  core.exec.transaction_step(m_lease, RunContext{core.primary(), "recovery", 0, 1, global_id}, what, fn);
}

}  // namespace plexus::detail

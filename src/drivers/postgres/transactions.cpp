// A PostgreSQL session's transactions (local and two-phase: PREPARE
// TRANSACTION / COMMIT PREPARED), replication positions and its role.
#include <cctype>
#include <string>
#include <thread>

#include "drivers/postgres/errors.hpp"
#include "drivers/postgres/session.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::postgres {

std::vector<std::string> Session::transaction_sql(TxStep step, const driver::TransactionSpec& spec) const {
  switch (step) {
    case TxStep::begin: {
      std::string sql = "BEGIN";
      if (spec.isolation != driver::Isolation::engine_default)
        sql += " ISOLATION LEVEL " + std::string(driver::to_string(spec.isolation));
      if (spec.read_only) sql += " READ ONLY";
      return {std::move(sql)};
    }
    case TxStep::commit: return {"COMMIT"};
    case TxStep::rollback: return {"ROLLBACK"};
  }
  return {};
}

void Session::begin(const driver::TransactionSpec& spec) {
  exec_simple(transaction_sql(TxStep::begin, spec).front().c_str());
}

namespace {
/// A prepared transaction's name: the global id and the branch, checked to be
/// plain characters (they are written into the statement).
std::string gid(const driver::Xid& x) {
  std::string g = x.gtrid + "." + x.bqual;
  for (char c : g)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-' && c != ':')
      throw UsageError("a transaction id may hold letters, digits and _ . - : only");
  return g;
}
}  // namespace

std::string Session::xa_statement(XaStep step, const driver::Xid& xid) const {
  switch (step) {
    case XaStep::begin: return "BEGIN";
    case XaStep::prepare: return "PREPARE TRANSACTION '" + gid(xid) + "'";
    case XaStep::commit: return "COMMIT PREPARED '" + gid(xid) + "'";
    case XaStep::rollback: return "ROLLBACK";
    case XaStep::rollback_prepared: return "ROLLBACK PREPARED '" + gid(xid) + "'";
  }
  return {};
}

void Session::xa_begin(const driver::Xid&, const driver::TransactionSpec& spec) { begin(spec); }
void Session::xa_prepare(const driver::Xid& xid) { exec_simple(xa_statement(XaStep::prepare, xid).c_str()); }
void Session::xa_commit(const driver::Xid& xid) { exec_simple(xa_statement(XaStep::commit, xid).c_str()); }
void Session::xa_rollback(const driver::Xid& xid, bool prepared) {
  exec_simple(xa_statement(prepared ? XaStep::rollback_prepared : XaStep::rollback, xid).c_str());
}

std::vector<driver::Xid> Session::xa_recover(std::string_view prefix) {
  std::vector<driver::Xid> out;
  Value like(std::string(prefix) + "%");
  const Result r = execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE ?",
                           std::span<const Value>(&like, 1));
  for (Row row : r) {
    const std::string g = row[0].as<std::string>();
    const auto dot = g.rfind('.');
    if (dot == std::string::npos) continue;
    out.push_back({g.substr(0, dot), g.substr(dot + 1)});
  }
  return out;
}
void Session::rollback() { exec_simple("ROLLBACK"); }

std::optional<std::string> Session::replication_position() {
  return execute("SELECT pg_current_wal_lsn()::text", {})[0][0].as<std::string>();
}

bool Session::wait_for_position(const std::string& position, std::chrono::milliseconds timeout) {
  // A host that is not in recovery has every committed write.
  const std::string sql = "SELECT COALESCE(pg_last_wal_replay_lsn() >= CAST(? AS pg_lsn), true)";
  Value pos(position);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    if (execute(sql, std::span<const Value>(&pos, 1))[0][0].as<bool>()) return true;
    if (std::chrono::steady_clock::now() + pause > deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
  }
}

std::optional<std::chrono::milliseconds> Session::replica_lag() {
  // Caught up when everything received is replayed; otherwise the age of the
  // last transaction replayed. NULL (nothing replayed yet) is unknown, never 0.
  auto v = execute(
      "SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
      "ELSE (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint END",
      {})[0][0];
  if (v.is_null()) return std::nullopt;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, v.as<std::int64_t>()));
}

Session::NodeRole Session::node_role() {
  const bool writable =
      execute("SELECT NOT pg_is_in_recovery() AND current_setting('default_transaction_read_only') = 'off'", {})[0][0]
          .as<bool>();
  return writable ? NodeRole::writable : NodeRole::read_only;
}

void Session::ping() {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  exec_simple("");
}

}  // namespace plexus::engine::postgres

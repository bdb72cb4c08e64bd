// Two-phase commit across connections, and recovery.
//
// The protocol (presumed abort): every participant begins a branch with an
// id of its own ("plx.<coordinator>.<start>_<n>" + participant index); at
// commit every participant that can prepare does (in parallel); then the
// decision is made durable — in the last resource's own transaction when one
// participant cannot prepare (its commit is the decision), else in the
// decision log; then every prepared branch commits (in parallel). A failure
// before the decision rolls everything back; after it, what did not commit
// is an InDoubtError that recover() completes from the log.
#include "tx/coordinator.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "db/branch.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus {

// ---- GlobalTransaction ---------------------------------------------------------------

struct GlobalTransaction::State {
  struct Participant {
    std::string name;
    Connection* conn;
    std::optional<driver::Xid> xid;  // none for the last resource
    std::optional<Transaction> tx;
    bool prepared = false;
  };
  ConnectionRegistry* db;
  detail::Coordinator* coord;
  std::string gtrid;
  std::vector<Participant> parts;
  bool done = false;

  ~State() {
    if (!done) rollback_all();
    coord->finished(gtrid);
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& p : parts) out.push_back(p.name);
    return out;
  }
  void rollback_all() noexcept {
    std::vector<std::function<void()>> tasks;
    for (auto& p : parts)
      if (p.tx && (p.tx->active() || p.prepared))
        tasks.emplace_back([&p] { detail::BranchAccess::rollback(*p.tx, p.xid, p.prepared); });
    if (!tasks.empty()) (void)coord->pool().run_all(tasks);
    if (!done) detail::bump(coord->metrics.rolled_back);
    done = true;
  }
};

GlobalTransaction::GlobalTransaction(std::unique_ptr<State> s) : m_state(std::move(s)) {}
GlobalTransaction::GlobalTransaction(GlobalTransaction&&) noexcept = default;
GlobalTransaction::~GlobalTransaction() = default;

const std::string& GlobalTransaction::id() const noexcept { return m_state->gtrid; }

Transaction& GlobalTransaction::operator[](std::string_view connection) {
  for (auto& p : m_state->parts)
    if (p.name == connection) return *p.tx;
  throw UsageError("connection '" + std::string(connection) + "' is not a participant of global transaction " +
                   m_state->gtrid + " (participants: " + detail::join_names(m_state->names()) + ")");
}

void GlobalTransaction::rollback() {
  if (m_state->done) throw UsageError("global transaction " + m_state->gtrid + " is already over");
  m_state->rollback_all();
}

void GlobalTransaction::commit() {
  auto& st = *m_state;
  if (st.done) throw UsageError("global transaction " + st.gtrid + " is already over");
  auto& pool = st.coord->pool();
  auto last = std::find_if(st.parts.begin(), st.parts.end(), [](const auto& p) { return !p.xid; });
  // 1. Prepare every participant that can, in parallel; the last resource
  // (if any) meanwhile writes the decision inside its own transaction, where
  // it counts only once that transaction commits.
  {
    std::vector<std::function<void()>> tasks;
    for (auto& p : st.parts)
      if (p.xid)
        tasks.emplace_back([&p] {
          detail::BranchAccess::prepare(*p.tx, *p.xid);
          p.prepared = true;
        });
      else
        tasks.emplace_back([&p, &st] { detail::TableLog(*p.conn).record_in(*p.tx, st.gtrid, st.names()); });
    const auto errors = pool.run_all(tasks);
    for (const auto& e : errors)
      if (e) {
        st.rollback_all();
        std::rethrow_exception(e);
      }
  }
  // 2. The decision, durable before any participant commits.
  if (last != st.parts.end()) {
    // The last resource's commit is the decision, atomically.
    try {
      detail::BranchAccess::commit_plain(*last->tx);
    } catch (const Error& e) {
      if (!e.is_connection_error()) {
        st.rollback_all();
        throw;
      }
      st.done = true;  // unknown outcome: the last resource's log decides at recovery
      std::vector<std::string> pending = st.names();
      detail::bump(st.coord->metrics.in_doubt);
      throw InDoubtError("the commit of global transaction " + st.gtrid + " on its last resource '" + last->name +
                             "' lost its connection (" + e.message() +
                             "): whether it committed is in that database's plexus_tx_log; recover() completes "
                             "every participant accordingly",
                         st.gtrid, pending);
    }
  } else {
    auto& log = st.coord->log(*st.db);
    try {
      log.record(st.gtrid, st.names());
    } catch (const Error& e) {
      if (!e.is_connection_error()) {
        st.rollback_all();
        throw;
      }
      st.done = true;
      detail::bump(st.coord->metrics.in_doubt);
      throw InDoubtError("the commit decision of global transaction " + st.gtrid + " could not be confirmed in the " +
                             log.where() + " (" + e.message() + "): recover() commits or rolls back every participant " +
                             "by what the log holds",
                         st.gtrid, st.names());
    }
  }
  st.done = true;
  // 3. Commit every prepared branch, in parallel.
  std::vector<std::string> failed;
  std::string first_error;
  {
    std::vector<std::function<void()>> tasks;
    std::vector<State::Participant*> which;
    for (auto& p : st.parts)
      if (p.xid) {
        which.push_back(&p);
        tasks.emplace_back([&p] { detail::BranchAccess::commit_prepared(*p.tx, *p.xid); });
      }
    const auto errors = pool.run_all(tasks);
    for (std::size_t i = 0; i < errors.size(); ++i)
      if (errors[i]) {
        failed.push_back(which[i]->name);
        if (first_error.empty()) {
          try {
            std::rethrow_exception(errors[i]);
          } catch (const std::exception& e) {
            first_error = e.what();
          }
        }
      }
  }
  if (!failed.empty()) {
    detail::bump(st.coord->metrics.in_doubt);
    throw InDoubtError("global transaction " + st.gtrid + " is decided (committed) but " + detail::join_names(failed) +
                           " did not confirm the commit (" + first_error +
                           "); recover() completes it from the decision log",
                       st.gtrid, failed);
  }
  detail::bump(st.coord->metrics.committed);
  // 4. Every participant committed: the decision is no longer needed.
  if (last == st.parts.end()) st.coord->completed(&st.coord->log(*st.db), nullptr, st.gtrid);
  else st.coord->completed(nullptr, last->conn, st.gtrid);
}

std::size_t RecoveryReport::count(RecoveryAction::What w) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(actions.begin(), actions.end(), [w](const RecoveryAction& a) { return a.what == w; }));
}

std::string_view to_string(RecoveryAction::What w) noexcept {
  switch (w) {
    case RecoveryAction::What::committed: return "committed";
    case RecoveryAction::What::rolled_back: return "rolled back";
    case RecoveryAction::What::left: return "left";
  }
  return "?";
}

namespace detail {

// ---- ids -------------------------------------------------------------------------------

namespace {
constexpr std::string_view kPrefix = "plx.";

std::string default_coordinator() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return "plexus";
  std::string id;
  for (char c : std::string_view(host))
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') id += c;
  if (id.size() > 32) id.resize(32);
  return id.empty() ? "plexus" : id;
}
}  // namespace

std::optional<GlobalId> GlobalId::parse(std::string_view gtrid) {
  if (!gtrid.starts_with(kPrefix)) return std::nullopt;
  auto rest = gtrid.substr(kPrefix.size());
  auto dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  GlobalId id{std::string(rest.substr(0, dot)), 0, 0, std::string(gtrid)};
  const auto stamp = rest.substr(dot + 1);
  const auto [end, ec] = std::from_chars(stamp.data(), stamp.data() + stamp.size(), id.begun_ms);
  if (ec == std::errc() && end < stamp.data() + stamp.size() && *end == '_')
    std::from_chars(end + 1, stamp.data() + stamp.size(), id.seq);
  return id;
}

namespace {
std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}
}  // namespace

Coordinator::Coordinator(const TransactionsConfig& cfg, TaskPool& pool)
    : m_id(cfg.coordinator.empty() ? default_coordinator() : cfg.coordinator), m_cfg(cfg), m_pool(pool) {}

Coordinator::~Coordinator() { forget_completed(); }

void Coordinator::completed(DecisionLog* log, Connection* lr, const std::string& gtrid) {
  // A file's "done" line costs no sync: written at once.
  if (auto* file = dynamic_cast<FileLog*>(log)) {
    file->forget(gtrid);
    return;
  }
  constexpr std::size_t kBatch = 32;
  {
    std::lock_guard lock(m_mutex);
    m_completed[lr].push_back(gtrid);
    if (++m_completed_count < kBatch) return;
  }
  forget_completed();
}

void Coordinator::forget_completed() noexcept {
  std::map<Connection*, std::vector<std::string>> batch;
  DecisionLog* log = nullptr;
  {
    std::lock_guard lock(m_mutex);
    batch.swap(m_completed);
    m_completed_count = 0;
    log = m_log.get();
  }
  for (auto& [lr, gtrids] : batch) {
    try {
      if (lr) TableLog(*lr).forget_all(gtrids);
      else if (log) log->forget_all(gtrids);
    } catch (...) {
      // recovery drops what is left
    }
  }
}

DecisionLog& Coordinator::log(ConnectionRegistry& db) {
  std::lock_guard lock(m_mutex);
  if (!m_log) {
    if (m_cfg.log_connection.empty()) m_log = std::make_unique<FileLog>(m_cfg.log_file);
    else m_log = std::make_unique<TableLog>(db.connection(m_cfg.log_connection));
  }
  return *m_log;
}

void Coordinator::finished(const std::string& gtrid) {
  std::lock_guard lock(m_mutex);
  m_in_flight.erase(gtrid);
  if (m_recoveries > 0) m_finished_while_recovering.insert(gtrid);
}

Coordinator::OwnSnapshot Coordinator::own_snapshot() {
  std::lock_guard lock(m_mutex);
  ++m_recoveries;
  return {m_in_flight, m_seq.load()};
}

void Coordinator::recovery_done() {
  std::lock_guard lock(m_mutex);
  if (--m_recoveries == 0) m_finished_while_recovering.clear();
}

bool Coordinator::may_still_decide(const GlobalId& id, const OwnSnapshot& snap) {
  if (id.coordinator != m_id) return false;
  if (snap.in_flight.contains(id.text)) return true;
  if (id.seq <= snap.last_seq) return false;  // began before the snapshot and finished before it: decided in the log or never
  // A higher count is this process's own transaction begun since the
  // snapshot, or an earlier process's (same coordinator id) left behind:
  // only the first is in flight now or finished during this recovery.
  std::lock_guard lock(m_mutex);
  return m_in_flight.contains(id.text) || m_finished_while_recovering.contains(id.text);
}

GlobalTransaction Coordinator::begin(ConnectionRegistry& db, std::span<const std::string_view> names,
                                     const TransactionOptions& opts) {
  if (names.empty()) throw UsageError("a global transaction needs at least one connection");
  auto st = std::make_unique<GlobalTransaction::State>();
  st->db = &db;
  st->coord = this;
  // When it began, and a count: unique across restarts of the same
  // coordinator, and it tells recovery how old a branch is. The count and
  // the in-flight set change together, so that a recovery's snapshot of
  // both says exactly which of this process's transactions began before it.
  {
    std::lock_guard lock(m_mutex);
    st->gtrid = std::string(kPrefix) + m_id + "." + std::to_string(now_ms()) + "_" + std::to_string(++m_seq);
    m_in_flight.insert(st->gtrid);
  }
  const driver::EngineRegistry& engines = db.engines();
  std::string last_resource;
  // The decision log's own connection, when it takes part and nothing else
  // must be the last resource, is the last resource: its commit, with the
  // decision written inside it, is the decision (a prepare and a separate
  // write of the decision saved).
  const bool log_takes_part =
      !m_cfg.log_connection.empty() &&
      std::find(names.begin(), names.end(), std::string_view(m_cfg.log_connection)) != names.end() &&
      std::all_of(names.begin(), names.end(), [&](std::string_view n) {
        return engines.get(db.connection(n).type()).capabilities().two_phase_commit;
      });
  for (std::size_t i = 0; i < names.size(); ++i) {
    Connection& conn = db.connection(names[i]);
    for (const auto& p : st->parts)
      if (p.name == names[i])
        throw UsageError("connection '" + std::string(names[i]) + "' is named twice in one global transaction");
    const bool two_phase = engines.get(conn.type()).capabilities().two_phase_commit &&
                           !(log_takes_part && names[i] == m_cfg.log_connection);
    if (!two_phase) {
      if (!last_resource.empty())
        throw UsageError("connections '" + last_resource + "' and '" + std::string(names[i]) +
                         "' cannot prepare a transaction (" + conn.type() +
                         "); a global transaction takes at most one such participant, as its last resource");
      last_resource = names[i];
    }
    st->parts.push_back({std::string(names[i]), &conn,
                         two_phase ? std::optional(driver::Xid{st->gtrid, std::to_string(i)}) : std::nullopt,
                         std::nullopt});
  }
  // The last resource keeps its decision in its own table: make sure it exists.
  for (auto& p : st->parts)
    if (!p.xid) ensure_table(*p.conn);
  GlobalTransaction g(std::move(st));
  // Every branch begins at once; one that fails rolls back the others (g's destructor).
  std::vector<std::function<void()>> tasks;
  for (auto& p : g.m_state->parts)
    tasks.emplace_back([&p, &opts, &gtrid = g.m_state->gtrid] { p.tx.emplace(BranchAccess::begin(*p.conn, p.xid, opts, gtrid)); });
  for (const auto& e : m_pool.run_all(tasks))
    if (e) std::rethrow_exception(e);
  return g;
}

void Coordinator::ensure_table(Connection& conn) {
  {
    std::lock_guard lock(m_mutex);
    if (m_tables.contains(conn.name())) return;
  }
  TableLog(conn).ensure();
  std::lock_guard lock(m_mutex);
  m_tables.insert(conn.name());
}

namespace {
bool wanted(const std::vector<std::string>& only, const std::string& name) {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}
}  // namespace

Decisions Coordinator::all_decisions(ConnectionRegistry& db, std::vector<std::string>& unreachable,
                                     const std::vector<std::string>& only) {
  Decisions out = log(db).decided();
  // Last resources (engines that cannot prepare) keep decisions in their own table.
  for (const auto& name : db.connection_names()) {
    if (!wanted(only, name)) continue;
    Connection& c = db.connection(name);
    const auto& engine = db.engines().get(c.type());
    if (engine.capabilities().two_phase_commit) continue;
    if (engine.missing(c.config(), nullptr)) continue;  // never created, so never a participant
    try {
      TableLog lr(c);
      for (auto& [gtrid, parts] : lr.decided_if_any()) out[gtrid] = parts;
    } catch (const Error&) {
      unreachable.push_back(name);
    }
  }
  return out;
}

RecoveryReport Coordinator::recover(ConnectionRegistry& db, const RecoverOptions& opts) {
  RecoveryReport report;
  auto guard = log(db).lock(m_id, std::chrono::seconds(30));
  if (!guard)
    throw TimeoutError("another recovery holds the lock of the " + log(db).where() + " (waited 30 s); try again");
  // This process's own transactions first, then the decisions: a transaction
  // of ours that finished before the snapshot wrote its decision (if any)
  // before finishing, so the decisions read below hold it; one that began
  // after the snapshot is left alone whatever it looks like.
  const OwnSnapshot own = own_snapshot();
  struct Done {
    Coordinator& c;
    ~Done() { c.recovery_done(); }
  } done{*this};
  Decisions decided = all_decisions(db, report.unreachable, opts.connections);
  std::map<std::string, std::set<std::string>> still_pending;  // gtrid → connections with a branch left
  std::set<std::string> looked_at;
  for (const auto& name : db.connection_names()) {
    if (!wanted(opts.connections, name)) continue;
    Connection& conn = db.connection(name);
    if (!db.engines().get(conn.type()).capabilities().two_phase_commit) continue;
    try {
      BranchAccess::recover_on(conn, [&](BranchAccess::Recovery& r) {
        for (const auto& xid : r.session().xa_recover(kPrefix)) {
          auto id = GlobalId::parse(xid.gtrid);
          if (!id) continue;
          RecoveryAction a{name, xid.gtrid, RecoveryAction::What::left, {}};
          const bool mine = id->coordinator == m_id;
          const auto age = std::chrono::milliseconds(now_ms() - std::min(id->begun_ms, now_ms()));
          if (!mine && !opts.all_coordinators) {
            a.reason = "coordinator '" + id->coordinator + "' owns it";
          } else if (!mine && age < opts.min_age) {
            a.reason = "coordinator '" + id->coordinator + "' owns it and it began " +
                       std::to_string(age.count() / 1000) + " s ago (it may still be in flight)";
          } else if (may_still_decide(*id, own)) {
            a.reason = "in flight in this process";
          } else {
            const bool commit = decided.contains(xid.gtrid);
            try {
              if (commit)
                r.step(xid.gtrid, r.session().xa_statement(driver::Session::XaStep::commit, xid),
                       [&](driver::Session& s) { s.xa_commit(xid); });
              else
                r.step(xid.gtrid, r.session().xa_statement(driver::Session::XaStep::rollback_prepared, xid),
                       [&](driver::Session& s) { s.xa_rollback(xid, true); });
              a.what = commit ? RecoveryAction::What::committed : RecoveryAction::What::rolled_back;
              a.reason = commit ? "the decision log says commit" : "no commit decision (presumed abort)";
            } catch (const Error& e) {
              // The connection answered but refused this branch (MariaDB
              // refuses a branch whose own session is still connected): the
              // branch waits for a later recovery; the connection was looked at.
              if (e.is_connection_error()) throw;
              a.reason = std::string("the database refused to ") + (commit ? "commit" : "roll back") +
                         " it (its session may still be connected; try again later): " + e.message();
            }
          }
          if (a.what == RecoveryAction::What::left) still_pending[xid.gtrid].insert(name);
          else bump(a.what == RecoveryAction::What::committed ? metrics.recovered_commit : metrics.recovered_rollback);
          report.actions.push_back(std::move(a));
        }
      });
      looked_at.insert(name);
    } catch (const Error&) {
      report.unreachable.push_back(name);
    }
  }
  // A decision is dropped once every participant was looked at and none
  // still holds its branch: every branch committed. It is reported, so that
  // a decision never disappears unseen.
  for (const auto& [gtrid, parts] : decided) {
    auto id = GlobalId::parse(gtrid);
    if (!id || (id->coordinator != m_id && !opts.all_coordinators) || may_still_decide(*id, own)) continue;
    if (id->coordinator != m_id &&
        std::chrono::milliseconds(now_ms() - std::min(id->begun_ms, now_ms())) < opts.min_age)
      continue;
    if (still_pending.contains(gtrid)) continue;
    bool all_seen = true;
    std::string last_resource;
    for (const auto& p : parts) {
      if (!db.has_connection(p)) continue;
      if (db.engines().get(db.connection(p).type()).capabilities().two_phase_commit) all_seen &= looked_at.contains(p);
      else last_resource = p;
    }
    if (!last_resource.empty() && !wanted(opts.connections, last_resource)) continue;  // its table was not read
    if (!all_seen) continue;
    if (last_resource.empty()) log(db).forget(gtrid);
    else TableLog(db.connection(last_resource)).forget(gtrid);
    report.forgotten.push_back(gtrid);
  }
  if (auto* file = dynamic_cast<FileLog*>(&log(db))) file->compact();
  return report;
}

PendingReport Coordinator::pending(ConnectionRegistry& db) {
  PendingReport out;
  Decisions decided = all_decisions(db, out.unreachable);
  for (const auto& name : db.connection_names()) {
    Connection& conn = db.connection(name);
    if (!db.engines().get(conn.type()).capabilities().two_phase_commit) continue;
    if (std::find(out.unreachable.begin(), out.unreachable.end(), name) != out.unreachable.end()) continue;
    try {
      BranchAccess::recover_on(conn, [&](BranchAccess::Recovery& r) {
        for (const auto& xid : r.session().xa_recover(kPrefix)) {
          auto id = GlobalId::parse(xid.gtrid);
          if (!id) continue;
          const auto age = std::chrono::duration_cast<std::chrono::seconds>(
              std::chrono::milliseconds(now_ms() - std::min(id->begun_ms, now_ms())));
          out.branches.push_back({name, xid.gtrid, id->coordinator, decided.contains(xid.gtrid), age});
        }
      });
    } catch (const Error&) {
      out.unreachable.push_back(name);
    }
  }
  return out;
}

}  // namespace detail
}  // namespace plexus

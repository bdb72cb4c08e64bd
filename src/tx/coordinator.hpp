// The coordinator of global transactions (private to src/): ids, the
// decision log, the parallel phases and recovery. One per Database.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "db/metrics.hpp"
#include "db/task_pool.hpp"
#include "plexus/config/config.hpp"
#include "plexus/tx/global_transaction.hpp"
#include "tx/decision_log.hpp"

namespace plexus::detail {

/// A global transaction id, "plx.<coordinator>.<start>_<n>", parsed.
struct GlobalId {
  std::string coordinator;
  std::uint64_t begun_ms = 0;  ///< when its transaction began (ms since the epoch)
  std::uint64_t seq = 0;       ///< its count within the coordinator instance that began it
  std::string text;
  [[nodiscard]] static std::optional<GlobalId> parse(std::string_view gtrid);
};

class Coordinator {
 public:
  /// Runs the phases of a commit on `pool` (the registry's executor, which outlives it).
  Coordinator(const TransactionsConfig& cfg, TaskPool& pool);
  ~Coordinator();

  [[nodiscard]] GlobalTransaction begin(ConnectionRegistry& db, std::span<const std::string_view> names,
                                        const TransactionOptions& opts);
  [[nodiscard]] RecoveryReport recover(ConnectionRegistry& db, const RecoverOptions& opts);
  [[nodiscard]] PendingReport pending(ConnectionRegistry& db);
  [[nodiscard]] const std::string& id() const noexcept { return m_id; }
  CoordinatorMetrics metrics;

  // ---- for GlobalTransaction::State ----
  [[nodiscard]] TaskPool& pool() noexcept { return m_pool; }
  [[nodiscard]] DecisionLog& log(ConnectionRegistry& db);
  /// A global transaction is no longer in flight here: recovery may look at it.
  void finished(const std::string& gtrid);
  /// Every participant of `gtrid` committed: its decision (in the log, or in
  /// the last resource `lr`'s table) may go. Dropped in batches, off most
  /// commits' path; a decision left behind is dropped by recovery.
  void completed(DecisionLog* log, Connection* lr, const std::string& gtrid);

 private:
  /// Decisions in every log: the configured one and every last resource's table.
  Decisions all_decisions(ConnectionRegistry& db, std::vector<std::string>& unreachable,
                          const std::vector<std::string>& only = {});
  /// Creates plexus_tx_log on a last resource, once per connection.
  void ensure_table(Connection& conn);
  /// Drops the completed decisions queued so far.
  void forget_completed() noexcept;
  /// What recovery knows of this process's own transactions: taken before
  /// any decision is read, so that every transaction of this process that
  /// finished before it has its decision (if any) in what is read after.
  struct OwnSnapshot {
    std::set<std::string> in_flight;
    std::uint64_t last_seq = 0;  ///< every id of this process up to this one began before the snapshot
  };
  [[nodiscard]] OwnSnapshot own_snapshot();
  /// Whether this process may still decide `id`: in flight at the snapshot,
  /// or begun since (in flight now, or finished while recovery ran).
  [[nodiscard]] bool may_still_decide(const GlobalId& id, const OwnSnapshot& snap);
  void recovery_done();

  std::string m_id;
  std::atomic<std::uint64_t> m_seq{0};
  TransactionsConfig m_cfg;
  TaskPool& m_pool;
  std::mutex m_mutex;
  std::set<std::string> m_in_flight;
  /// While a recovery runs: the ids that finished meanwhile (they began in
  /// this process after its snapshot; recovery must leave them alone).
  unsigned m_recoveries = 0;
  std::set<std::string> m_finished_while_recovering;
  std::set<std::string> m_tables;  ///< connections whose plexus_tx_log exists
  /// Completed decisions still to drop: in the log (key null) or a last resource's table.
  std::map<Connection*, std::vector<std::string>> m_completed;
  std::size_t m_completed_count = 0;
  std::unique_ptr<DecisionLog> m_log;
};

}  // namespace plexus::detail

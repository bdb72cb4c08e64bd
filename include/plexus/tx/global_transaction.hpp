// Atomic commit across connections: one transaction per participant,
// committed all or none with two-phase commit over the engines' own
// mechanisms (PostgreSQL PREPARE TRANSACTION, MySQL/MariaDB XA), the decision
// made durable before the first commit, and recovery of what a crash left.
//
//   db.transaction({"users_db", "orders_db"}, [&](plexus::GlobalTransaction& g) {
//     auto id = g["users_db"].table("users").insert_get_id({{"name", name}});
//     g["orders_db"].table("orders").insert({{"user_id", id}, {"total", 10}});
//   });   // both committed, or neither
//
// Atomic, not isolated: a reader may see one participant committed a moment
// before the other. See docs/transactions.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/db/transaction.hpp"

namespace plexus {

class ConnectionRegistry;
namespace detail {
class Coordinator;
}

/// A commit across connections that was decided but did not complete on
/// every participant (one was unreachable at commit): what committed stays
/// committed, and recover() completes the rest. Never a silent success.
class InDoubtError : public Error {
 public:
  InDoubtError(std::string message, std::string global_id, std::vector<std::string> pending)
      : Error(ErrorKind::other, std::move(message)), m_global_id(std::move(global_id)), m_pending(std::move(pending)) {}
  /// The global transaction id ("plx.<coordinator>.<sequence>").
  [[nodiscard]] const std::string& global_id() const noexcept { return m_global_id; }
  /// The participants (connection names) whose commit is still to be done by recovery.
  [[nodiscard]] const std::vector<std::string>& pending() const noexcept { return m_pending; }

 private:
  std::string m_global_id;
  std::vector<std::string> m_pending;
};

/// The participants of one global transaction, each a Transaction on its
/// connection's primary.
class GlobalTransaction {
 public:
  GlobalTransaction(GlobalTransaction&&) noexcept;
  GlobalTransaction& operator=(GlobalTransaction&&) = delete;
  /// Rolls every participant back unless commit() succeeded.
  ~GlobalTransaction();

  /// The participant on `connection`. @throws UsageError for a connection that is not a participant.
  [[nodiscard]] Transaction& operator[](std::string_view connection);
  /// The global id, shown in every QueryEvent of its two-phase statements.
  [[nodiscard]] const std::string& id() const noexcept;
  /// Prepares every participant that can (in parallel), makes the decision
  /// durable, then commits them all (in parallel).
  /// @throws the first participant's error when a prepare fails (then
  ///         everything is rolled back); InDoubtError when the decision was
  ///         made but a commit failed.
  void commit();
  /// Rolls every participant back.
  void rollback();

 private:
  friend class detail::Coordinator;
  struct State;
  explicit GlobalTransaction(std::unique_ptr<State> s);
  std::unique_ptr<State> m_state;
};

/// What recover() did with one prepared branch it found.
struct RecoveryAction {
  enum class What : std::uint8_t { committed, rolled_back, left };
  std::string connection;
  std::string global_id;
  What what = What::left;
  std::string reason;  ///< why (the decision found, its absence, another coordinator's, in flight here)
};

struct RecoveryReport {
  std::vector<RecoveryAction> actions;
  /// Connections that could not be looked at (unreachable): their branches wait for the next recovery.
  std::vector<std::string> unreachable;
  /// Commit decisions dropped because no participant holds a branch of
  /// them any more (every branch committed): the global ids, so that a
  /// decision never disappears unreported.
  std::vector<std::string> forgotten;
  [[nodiscard]] std::size_t count(RecoveryAction::What w) const noexcept;
};

struct RecoverOptions {
  /// Also resolve branches of other coordinators (an operator cleaning up
  /// after instances that are gone); by default only this coordinator's.
  bool all_coordinators = false;
  /// With all_coordinators: leave other coordinators' branches younger than
  /// this (they may be in flight right now).
  std::chrono::seconds min_age{300};
  /// Only look at these connections (their prepared branches and, for those
  /// that cannot prepare, their decision tables); empty: every connection.
  /// A decision is dropped only when all its participants were looked at.
  std::vector<std::string> connections = {};
};

/// A prepared branch waiting for its outcome.
struct PendingBranch {
  std::string connection;
  std::string global_id;
  std::string coordinator;
  bool decided_commit = false;  ///< the decision log says commit
  std::chrono::seconds age{0};  ///< since its global transaction began
};

/// What pending_transactions() found.
struct PendingReport {
  std::vector<PendingBranch> branches;
  /// Connections that could not be looked at (unreachable).
  std::vector<std::string> unreachable;
};

std::string_view to_string(RecoveryAction::What w) noexcept;

}  // namespace plexus


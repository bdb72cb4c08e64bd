// The db side of a global transaction (private to src/): a Transaction
// begun, prepared, committed or rolled back as one branch of a two-phase
// commit, every step through the executor (hooks see it with the global id).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "plexus/db/connection.hpp"
#include "plexus/driver/driver.hpp"

namespace plexus::detail {

struct BranchAccess {
  /// Begins `conn`'s branch: with `xid` a preparable one, without it a plain
  /// transaction (the last resource of a commit with one engine that cannot prepare).
  static Transaction begin(Connection& conn, const std::optional<driver::Xid>& xid, const TransactionOptions& opts,
                           const std::string& global_id);
  static void prepare(Transaction& tx, const driver::Xid& xid);
  /// Commits a prepared branch on its own session.
  static void commit_prepared(Transaction& tx, const driver::Xid& xid);
  /// Commits a plain (last-resource) branch.
  static void commit_plain(Transaction& tx);
  /// Rolls a branch back, prepared or not; errors are swallowed (recovery finishes the job).
  static void rollback(Transaction& tx, const std::optional<driver::Xid>& xid, bool prepared) noexcept;
  /// Runs one statement on `conn`'s primary as a step of global transaction
  /// `global_id` (the decision log's writes): the hooks see the id.
  static Result run_as(Connection& conn, const std::string& global_id, std::string_view sql, Params params);
  /// A session of a connection's primary for recovery: a look at the
  /// prepared branches, and steps the hooks see with their global id.
  class Recovery {
   public:
    Recovery(Connection& conn, Pool::Lease& lease) : m_conn(conn), m_lease(lease) {}
    [[nodiscard]] driver::Session& session() { return *m_lease; }
    void step(const std::string& global_id, std::string_view what, const std::function<void(driver::Session&)>& fn);

   private:
    Connection& m_conn;
    Pool::Lease& m_lease;
  };
  /// Runs `fn` on a session of `conn`'s primary.
  static void recover_on(Connection& conn, const std::function<void(Recovery&)>& fn);
};

}  // namespace plexus::detail

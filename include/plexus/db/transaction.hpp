// A transaction on one connection's primary. Nested calls use savepoints.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "plexus/db/pool.hpp"
#include "plexus/db/queryable.hpp"
#include "plexus/db/transaction_options.hpp"
#include "plexus/db/unit_of_work.hpp"

namespace plexus {

class Connection;
class Error;
namespace detail {
class ConnectionCore;
struct BranchAccess;
}  // namespace detail

namespace detail {
/// Whether attempt `attempt`, which failed with `e`, may run again.
[[nodiscard]] bool may_retry(const Error& e, bool committed, unsigned attempt, const RetryPolicy& p) noexcept;
/// Tells the hooks and waits the attempt's jittered backoff.
void before_retry(Connection& c, const Error& e, unsigned attempt, const RetryPolicy& p);
/// before_retry() without the sleep: counts the retry, tells the hooks and
/// returns how long to wait (the doubled backoff, capped, jittered).
[[nodiscard]] std::chrono::microseconds retry_wait(Connection& c, const Error& e, unsigned attempt, const RetryPolicy& p);
}  // namespace detail

class Transaction final : public SingleTarget {
 public:
  /// Made by Connection::begin() and transaction(); the core is opaque to users.
  Transaction(Connection& conn, detail::ConnectionCore& core, Pool::Lease lease, std::uint64_t id,
              unsigned attempt = 1);
  Transaction(Transaction&& o) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  /// Rolls back if neither commit() nor rollback() was called.
  ~Transaction() override;

  /// @throws plexus::Error; after a failed commit the transaction is over.
  void commit();
  void rollback();
  /// Rolls back if still active, swallowing any error (the session is
  /// discarded if it could not roll back): for giving up on an attempt.
  void abandon() noexcept;
  [[nodiscard]] bool active() const noexcept { return m_active; }
  /// Whether commit() succeeded.
  [[nodiscard]] bool committed() const noexcept { return m_committed; }
  /// 1 for the first run of a transaction, 2 for the first retry, …
  [[nodiscard]] unsigned attempt() const noexcept { return m_attempt; }
  /// Unique within its connection; also in every QueryEvent it runs.
  [[nodiscard]] std::uint64_t id() const noexcept { return m_id; }
  [[nodiscard]] Connection& connection() const noexcept { return *m_conn; }
  [[nodiscard]] const std::string& engine() const noexcept override;
  [[nodiscard]] const Grammar& grammar() const noexcept override;
  void atomically(const std::function<void(SingleTarget&)>& fn) override {
    transaction([&](Transaction& tx) { fn(tx); });
  }
  /// On commit, records the write in `uow` (with the primary's replication
  /// position when the unit reads causally).
  void record_in(UnitOfWork& uow) noexcept { m_uow = &uow; }

  /// Runs `fn(tx)` inside a savepoint: released when it returns, rolled back
  /// to (and rethrown) when it throws; the outer transaction goes on.
  template <class F>
  auto transaction(F&& fn) -> std::invoke_result_t<F, Transaction&> {
    auto sp = savepoint();
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F, Transaction&>>) {
        std::forward<F>(fn)(*this);
        release(sp);
      } else {
        auto r = std::forward<F>(fn)(*this);
        release(sp);
        return r;
      }
    } catch (...) {
      rollback_to(sp);
      throw;
    }
  }

 protected:
  std::uint64_t run(const Statement& s) override;

 private:
  friend struct detail::BranchAccess;  // a branch of a global transaction (src/db/branch.cpp)
  std::string savepoint();
  void release(const std::string& sp);
  void rollback_to(const std::string& sp);
  void check_active() const;
  void finish(bool commit);

  Connection* m_conn;
  detail::ConnectionCore* m_core;
  Pool::Lease m_lease;
  std::uint64_t m_id;
  unsigned m_depth = 0;
  unsigned m_attempt = 1;
  bool m_active = true;
  bool m_committed = false;
  UnitOfWork* m_uow = nullptr;
  std::string m_global_id;  // set when it is a branch of a global transaction
};

}  // namespace plexus

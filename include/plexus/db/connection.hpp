// A named logical database: a thin facade over its router (which host), its
// executor (how a statement runs, with hooks) and its pools. The parts live
// in src/db/; this header holds the API.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/events.hpp"
#include "plexus/db/pool.hpp"
#include "plexus/db/queryable.hpp"
#include "plexus/db/transaction_options.hpp"
#include "plexus/db/unit_of_work.hpp"

namespace plexus {

class Transaction;
class Connection;
namespace detail {
class ConnectionCore;
/// The one access point from the views of a connection (RoutedConnection,
/// Transaction) to its parts.
ConnectionCore& core_of(Connection& c) noexcept;
}  // namespace detail

/// How one query may be routed, beyond its intent.
struct RouteOptions {
  enum class Side : std::uint8_t { any, primary, replica };
  UnitOfWork* uow = nullptr;
  Side side = Side::any;
};

/// A connection seen through routing options: conn.with(uow), conn.on_primary(),
/// conn.on_replica(). Cheap to make; use it for one call or keep it for a request.
class RoutedConnection final : public SingleTarget {
 public:
  RoutedConnection(Connection& c, RouteOptions o) noexcept : m_conn(&c), m_opts(o) {}
  [[nodiscard]] Connection& connection() const noexcept { return *m_conn; }
  [[nodiscard]] const RouteOptions& options() const noexcept { return m_opts; }
  [[nodiscard]] const std::string& engine() const noexcept override;
  [[nodiscard]] const Grammar& grammar() const noexcept override;
  void atomically(const std::function<void(SingleTarget&)>& fn) override;
  /// A query builder that runs through this view and keeps a copy of it, so
  /// `auto q = conn.on_primary().table("users");` can be kept and run later.
  [[nodiscard]] QueryBuilder table(std::string_view name) const;
  /// A transaction on the primary; on commit the unit of work records the write.
  template <class F>
  auto transaction(F&& fn, const TransactionOptions& opts = {}) -> std::invoke_result_t<F, Transaction&>;

 protected:
  std::uint64_t run(const Statement& s) override;

 private:
  Connection* m_conn;
  RouteOptions m_opts;
};

struct HostHealth {
  std::string role;  ///< "primary" or "replica"
  std::string host;
  bool reachable = false;
  bool ejected = false;  ///< a replica currently left out after a failure
  std::optional<std::chrono::milliseconds> lag;  ///< replica lag where the engine reports it
  /// Past max_replica_lag_ms, or its lag unknown while that is set: left out of reads.
  bool lagging = false;
  bool ready = true;  ///< serves reads (false: a Galera node that is not Synced)
  std::chrono::microseconds latency{0};
  std::string server_version;
  std::string error;  ///< why it is unreachable (no secrets)
  /// False when the database does not exist yet and is made on first use (a
  /// new SQLite file): nothing is wrong, `note` says so.
  bool created = true;
  std::string note;
  PoolStats pool;
};

struct ConnectionHealth {
  std::string name;
  std::string type;        ///< the engine's canonical name
  bool connected = false;   ///< a session to the primary is open (after the check: it answered)
  bool primary_up = false;  ///< the primary answered (or is a database made on first use)
  bool healthy = false;     ///< status() is "healthy": every host answered and may serve
  std::vector<HostHealth> hosts;
  /// "healthy" (every host answered and may serve), "degraded" (the primary
  /// answered; a replica did not, lags or is not ready) or "down" (no primary
  /// answered).
  [[nodiscard]] std::string status() const;
};

class Connection final : public SingleTarget {
 public:
  /// Made by a Database, which checks the configuration first.
  explicit Connection(std::unique_ptr<detail::ConnectionCore> core);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  /// The engine's canonical name, whichever alias the configuration used
  /// ("postgres" for "postgresql" or "pgsql", "mysql" for "mariadb"): the
  /// seed's getType(); the same as engine().
  [[nodiscard]] const std::string& type() const noexcept;
  /// The configuration, with the engine name resolved.
  [[nodiscard]] const ConnectionConfig& config() const noexcept;
  /// True when the primary answers a round trip now (the seed's
  /// isConnected()): uses a pooled session, opening one if none is open, and
  /// gives false rather than throwing when the server is down.
  [[nodiscard]] bool is_connected();
  /// Opens a session if needed and makes a round trip. @throws ConnectionError.
  void ping();
  /// Round trip to every host, with latency and pool stats; never throws for a down host.
  [[nodiscard]] ConnectionHealth health();
  /// The primary's server version string.
  [[nodiscard]] std::string server_version();

  /// Runs `fn(tx)` in a transaction on the primary: commits when it returns,
  /// rolls back when it throws (and rethrows). Returns what `fn` returns.
  /// `opts` sets the isolation level, read-only, and an opt-in retry on
  /// serialization failures and deadlocks (see RetryPolicy).
  template <class F>
  auto transaction(F&& fn, const TransactionOptions& opts = {}) -> std::invoke_result_t<F, Transaction&>;
  /// Starts a transaction to drive by hand (commit()/rollback(); rolls back if neither is called).
  [[nodiscard]] Transaction begin(const TransactionOptions& opts = {});
  /// begin() as attempt `attempt` of a retried transaction (its events say which).
  [[nodiscard]] Transaction begin(const TransactionOptions& opts, unsigned attempt);

  /// Each returns a handle whose remove() takes the hook out again.
  /// @throws UsageError for an empty hook (nullptr or an empty std::function).
  HookHandle on_before_query(QueryHook h);
  HookHandle on_after_query(QueryHook h);
  HookHandle on_error(QueryHook h);
  /// Calls `fn` after every query that took longer than `threshold`.
  HookHandle on_slow_query(std::chrono::nanoseconds threshold, QueryHook fn) {
    return on_after_query(slow_query_hook(threshold, std::move(fn)));
  }
  /// Hide bound values from hook events (they may hold personal data). Safe
  /// to call while queries run; they see the setting at their start.
  void redact_bindings(bool on) noexcept;
  /// Pool warnings (sessions held too long) and replica ejections. Safe to
  /// call while queries run.
  void on_warning(std::function<void(const std::string&)> fn);

  /// Queries that read your writes within `uow` (sticky or causal, per the
  /// unit's mode or this connection's `sticky` / `causal` settings).
  [[nodiscard]] RoutedConnection with(UnitOfWork& uow) noexcept { return RoutedConnection(*this, {&uow, RouteOptions::Side::any}); }
  /// Forces reads to the primary.
  [[nodiscard]] RoutedConnection on_primary() noexcept { return RoutedConnection(*this, {nullptr, RouteOptions::Side::primary}); }
  /// Forces reads to a replica (no fallback to the primary); writes still go to the primary.
  [[nodiscard]] RoutedConnection on_replica() noexcept { return RoutedConnection(*this, {nullptr, RouteOptions::Side::replica}); }

  /// Opens pool.min sessions on every host now instead of on first use.
  void warm_up();
  /// Closes every idle session (on every host).
  void close_idle();

  [[nodiscard]] PoolStats pool_stats() const;
  /// Stats of replica `i` (in read_hosts order).
  [[nodiscard]] PoolStats replica_pool_stats(std::size_t i) const;
  [[nodiscard]] std::size_t replica_count() const noexcept;
  /// Sessions open on every host of this connection.
  [[nodiscard]] std::size_t open_sessions() const;

  [[nodiscard]] const std::string& engine() const noexcept override { return type(); }
  [[nodiscard]] const Grammar& grammar() const noexcept override;
  void atomically(const std::function<void(SingleTarget&)>& fn) override;

 protected:
  std::uint64_t run(const Statement& s) override;

 private:
  friend detail::ConnectionCore& detail::core_of(Connection& c) noexcept;
  std::unique_ptr<detail::ConnectionCore> m_core;
};

}  // namespace plexus

#include "plexus/db/transaction.hpp"

namespace plexus {

template <class F>
auto RoutedConnection::transaction(F&& fn, const TransactionOptions& opts) -> std::invoke_result_t<F, Transaction&> {
  for (unsigned attempt = 1;; ++attempt) {
    Transaction tx = m_conn->begin(opts, attempt);
    if (m_opts.uow) tx.record_in(*m_opts.uow);
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F, Transaction&>>) {
        fn(tx);
        tx.commit();
        return;
      } else {
        auto result = fn(tx);
        tx.commit();
        return result;
      }
    } catch (const Error& e) {
      if (!detail::may_retry(e, tx.committed(), attempt, opts.retry)) throw;
      tx.abandon();  // roll back (its locks go) before waiting
      detail::before_retry(*m_conn, e, attempt, opts.retry);
    }
  }
}

template <class F>
auto Connection::transaction(F&& fn, const TransactionOptions& opts) -> std::invoke_result_t<F, Transaction&> {
  return RoutedConnection(*this, RouteOptions{}).transaction(std::forward<F>(fn), opts);
}

}  // namespace plexus

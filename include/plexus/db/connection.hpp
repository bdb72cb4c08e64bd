// A named logical database: a primary pool and optional replica pools.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/db/events.hpp"
#include "plexus/db/pool.hpp"
#include "plexus/db/queryable.hpp"
#include "plexus/db/unit_of_work.hpp"

namespace plexus {

class Transaction;
class Connection;

/// How one query may be routed, beyond its intent.
struct RouteOptions {
  enum class Side : std::uint8_t { any, primary, replica };
  UnitOfWork* uow = nullptr;
  Side side = Side::any;
};

/// A connection seen through routing options: conn.with(uow), conn.on_primary(),
/// conn.on_replica(). Cheap to make; use it for one call or keep it for a request.
class RoutedConnection final : public Queryable {
 public:
  RoutedConnection(Connection& c, RouteOptions o) noexcept : m_conn(&c), m_opts(o) {}
  [[nodiscard]] Connection& connection() const noexcept { return *m_conn; }
  [[nodiscard]] const RouteOptions& options() const noexcept { return m_opts; }
  [[nodiscard]] const std::string& driver() const noexcept override;
  void atomically(const std::function<void(Queryable&)>& fn) override;
  /// A transaction on the primary; on commit the unit of work records the write.
  template <class F>
  auto transaction(F&& fn) -> std::invoke_result_t<F, Transaction&>;

 protected:
  Result run(std::string_view sql, std::span<const Value> params, Intent intent) override;
  Cursor open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) override;
  std::vector<Result> run_batch(std::string_view sql, std::span<const std::vector<Value>> sets,
                                Intent intent) override;
  std::uint64_t run_each(std::string_view sql, std::span<const Value> params, Intent intent,
                         const RowVisitor& visit) override;
  Result run_insert_key(const KeyedInsert& ins, std::span<const Value> params) override;
  std::uint64_t run_script(std::string_view sql) override;

 private:
  Connection* m_conn;
  RouteOptions m_opts;
};

/// Hooks registered on a connection or on the whole Database. Thread-safe;
/// queries see a consistent snapshot.
class HookRegistry {
 public:
  struct Set {
    std::vector<QueryHook> before, after, error;
    [[nodiscard]] bool empty() const noexcept { return before.empty() && after.empty() && error.empty(); }
  };
  void add_before(QueryHook h);
  void add_after(QueryHook h);
  void add_error(QueryHook h);
  [[nodiscard]] std::shared_ptr<const Set> snapshot() const;
  /// False until the first hook is added: lets queries skip hooks without a lock.
  [[nodiscard]] bool any() const noexcept { return m_any.load(std::memory_order_acquire); }

 private:
  template <class F>
  void edit(F&& f);
  std::atomic<bool> m_any{false};
  mutable std::mutex m_mutex;
  std::shared_ptr<const Set> m_set = std::make_shared<Set>();
};

struct HostHealth {
  std::string role;  ///< "primary" or "replica"
  std::string host;
  bool reachable = false;
  bool ejected = false;  ///< a replica currently left out after a failure
  std::optional<std::chrono::milliseconds> lag;  ///< replica lag where the engine reports it
  std::chrono::microseconds latency{0};
  std::string server_version;
  std::string error;  ///< why it is unreachable (no secrets)
  PoolStats pool;
};

struct ConnectionHealth {
  std::string name;
  std::string type;        ///< driver name
  bool connected = false;  ///< had an open session before the check
  bool healthy = false;    ///< the primary answered
  std::vector<HostHealth> hosts;
  /// "healthy" (every host answered), "degraded" (the primary answered, a
  /// replica did not) or "down" (the primary did not answer).
  [[nodiscard]] std::string status() const;
};

class Connection final : public Queryable {
 public:
  /// @throws ConfigError when the driver is not compiled in.
  Connection(ConnectionConfig cfg, std::shared_ptr<const HookRegistry> global_hooks,
             ConnectionBudget* budget = nullptr);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return m_cfg.name; }
  /// Driver name: "sqlite", "postgres" or "mysql" (the seed's getType()).
  [[nodiscard]] const std::string& type() const noexcept { return m_cfg.driver; }
  [[nodiscard]] const ConnectionConfig& config() const noexcept { return m_cfg; }
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
  template <class F>
  auto transaction(F&& fn) -> std::invoke_result_t<F, Transaction&>;
  /// Starts a transaction to drive by hand (commit()/rollback(); rolls back if neither is called).
  [[nodiscard]] Transaction begin();

  void on_before_query(QueryHook h) { m_hooks->add_before(std::move(h)); }
  void on_after_query(QueryHook h) { m_hooks->add_after(std::move(h)); }
  void on_error(QueryHook h) { m_hooks->add_error(std::move(h)); }
  /// Calls `fn` after every query that took longer than `threshold`.
  void on_slow_query(std::chrono::nanoseconds threshold, QueryHook fn) {
    on_after_query(slow_query_hook(threshold, std::move(fn)));
  }
  /// Hide bound values from hook events (they may hold personal data). Safe
  /// to call while queries run; they see the setting at their start.
  void redact_bindings(bool on) noexcept { m_redact.store(on, std::memory_order_relaxed); }
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

  [[nodiscard]] PoolStats pool_stats() const { return m_primary->stats(); }
  /// Stats of replica `i` (in read_hosts order).
  [[nodiscard]] PoolStats replica_pool_stats(std::size_t i) const { return m_replicas.at(i)->pool->stats(); }
  [[nodiscard]] std::size_t replica_count() const noexcept { return m_replicas.size(); }

  [[nodiscard]] const std::string& driver() const noexcept override { return m_cfg.driver; }
  void atomically(const std::function<void(Queryable&)>& fn) override;

 protected:
  Result run(std::string_view sql, std::span<const Value> params, Intent intent) override {
    return run_routed(sql, params, intent, RouteOptions{});
  }
  Cursor open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) override {
    return cursor_routed(sql, params, intent, RouteOptions{});
  }
  std::vector<Result> run_batch(std::string_view sql, std::span<const std::vector<Value>> sets,
                                Intent intent) override {
    return batch_routed(sql, sets, intent, RouteOptions{});
  }
  std::uint64_t run_each(std::string_view sql, std::span<const Value> params, Intent intent,
                         const RowVisitor& visit) override {
    return each_routed(sql, params, intent, visit, RouteOptions{});
  }
  Result run_insert_key(const KeyedInsert& ins, std::span<const Value> params) override {
    return insert_key_routed(ins, params, RouteOptions{});
  }
  std::uint64_t run_script(std::string_view sql) override { return script_routed(sql, RouteOptions{}); }

 private:
  friend class Transaction;
  friend class RoutedConnection;
  struct Replica {
    std::unique_ptr<Pool> pool;
    unsigned weight = 1;
    std::atomic<std::int64_t> ejected_until{0};  // steady_clock ticks
    std::atomic<int> in_flight{0};
    std::atomic<std::int64_t> lag_ms{-1};        // -1 = unknown
    std::atomic<std::int64_t> lag_checked{0};
  };
  /// How run_on runs a statement when not into one Result: a batch (one run
  /// per parameter set, results into `out`), rows handed to `visit`, or an
  /// insert whose generated key is wanted (`key`).
  struct Mode {
    std::span<const std::vector<Value>> sets;
    std::vector<Result>* out;
    const RowVisitor* visit;
    const KeyedInsert* key = nullptr;
    bool script = false;  ///< execute_script: several statements, no parameters
    /// A read whose rows have started reaching the caller cannot move to another host.
    [[nodiscard]] bool started() const noexcept { return visit && visit->calls() > 0; }
  };
  Result run_routed(std::string_view sql, std::span<const Value> params, Intent intent, const RouteOptions& o,
                    const Mode* mode = nullptr);
  std::vector<Result> batch_routed(std::string_view sql, std::span<const std::vector<Value>> sets, Intent intent,
                                   const RouteOptions& o);
  Cursor cursor_routed(std::string_view sql, std::span<const Value> params, Intent intent, const RouteOptions& o);
  std::uint64_t each_routed(std::string_view sql, std::span<const Value> params, Intent intent,
                            const RowVisitor& visit, const RouteOptions& o);
  Result insert_key_routed(const KeyedInsert& ins, std::span<const Value> params, const RouteOptions& o);
  std::uint64_t script_routed(std::string_view sql, const RouteOptions& o);
  Result run_primary(std::string_view reason, std::string_view sql, std::span<const Value> params, Intent intent,
                     const RouteOptions& o, const Mode* mode);
  Pool::Lease acquire_or_report(Pool& pool, std::string_view reason, std::string_view sql,
                                std::span<const Value> params, Intent intent);
  [[nodiscard]] Consistency consistency(const RouteOptions& o) const noexcept;
  /// Only a dead host is worth another try, and only before rows reached the caller.
  [[nodiscard]] static bool worth_another_host(const Error& e, const Mode* mode) noexcept;
  /// The replica the strategy picks first; callers walk on from it (modulo count).
  [[nodiscard]] std::size_t first_replica();
  [[nodiscard]] bool eligible(const Replica& r) const noexcept;
  bool lag_ok(Replica& r, Pool::Lease& lease);
  void eject(Replica& r, const Error& why);
  void record_write(driver::Session& s, const RouteOptions& o);
  void warn(const std::string& msg) const;
  void refuse_if_read_only(std::string_view sql, Intent intent) const;
  /// Runs one statement on a leased session with hooks, timing and error context.
  Result run_on(Pool::Lease& lease, const Pool& pool, std::string_view reason, std::string_view sql,
                std::span<const Value> params, Intent intent, std::uint64_t tx_id, const Mode* mode = nullptr);
  void fire(const std::vector<QueryHook> HookRegistry::Set::*which, const QueryEvent& ev) const;
  [[nodiscard]] bool hooked() const noexcept { return m_hooks->any() || (m_global && m_global->any()); }
  QueryEvent event(const Pool& pool, std::string_view reason, std::string_view sql, std::span<const Value> params,
                   Intent intent, std::uint64_t tx_id) const;

  ConnectionConfig m_cfg;
  const driver::Driver* m_driver;
  std::unique_ptr<Pool> m_primary;
  std::vector<std::unique_ptr<Replica>> m_replicas;
  std::atomic<std::size_t> m_next_replica{0};
  /// The warning hook, replaced as a whole under m_warn_mutex and called from a snapshot.
  using WarnFn = std::function<void(const std::string&)>;
  [[nodiscard]] std::shared_ptr<const WarnFn> warn_fn() const;
  mutable std::mutex m_warn_mutex;
  std::shared_ptr<const WarnFn> m_warn;
  std::shared_ptr<HookRegistry> m_hooks = std::make_shared<HookRegistry>();
  std::shared_ptr<const HookRegistry> m_global;
  std::atomic<std::uint64_t> m_tx_counter{0};
  std::atomic<bool> m_redact{false};
};

}  // namespace plexus

#include "plexus/db/transaction.hpp"

namespace plexus {

template <class F>
auto RoutedConnection::transaction(F&& fn) -> std::invoke_result_t<F, Transaction&> {
  Transaction tx = m_conn->begin();
  if (m_opts.uow) {
    Connection* c = m_conn;
    RouteOptions o = m_opts;
    tx.after_commit([c, o](driver::Session& s) { c->record_write(s, o); });
  }
  if constexpr (std::is_void_v<std::invoke_result_t<F, Transaction&>>) {
    std::forward<F>(fn)(tx);
    tx.commit();
  } else {
    auto result = std::forward<F>(fn)(tx);
    tx.commit();
    return result;
  }
}

template <class F>
auto Connection::transaction(F&& fn) -> std::invoke_result_t<F, Transaction&> {
  return RoutedConnection(*this, RouteOptions{}).transaction(std::forward<F>(fn));
}

}  // namespace plexus

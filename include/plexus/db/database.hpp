// Database: the registry of named connections. Owns everything; no globals.
#pragma once

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/metrics.hpp"
#include "plexus/db/picker.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus {

template <class T>
class Model;
class GlobalTransaction;
struct RecoveryReport;
struct RecoverOptions;
struct PendingReport;
class ShardGroup;
namespace detail {
class HookRegistry;
class Coordinator;
}  // namespace detail

/// What an application adds to the built-in engines and read strategies:
///   Database db(cfg, {.engines = {std::make_shared<MyEngine>()},
///                     .pickers = {{"nearest", [] { return std::make_unique<NearestPicker>(); }}}});
struct Extensions {
  std::vector<std::shared_ptr<const driver::Engine>> engines = {};
  /// Read strategies by the name a connection's `load_balance` gives.
  std::map<std::string, PickerFactory, std::less<>> pickers = {};
  /// Shard strategies by the name a shard group's `strategy` gives (from TOML).
  std::map<std::string, ShardFunction, std::less<>> shard_strategies = {};
};

class Database {
 public:
  /// Validates the configuration (engine names, engine options and their
  /// types, strategies, required fields) and creates every Connection; no
  /// session is opened until first use. @throws ConfigError naming the
  /// connection (and the file and key when it came from a file).
  explicit Database(DatabaseConfig cfg, Extensions ext = {});
  /// Loads a TOML file (and a `.env` beside the working directory, if any).
  /// @throws ConfigError naming the file, the key and the problem.
  static Database from_file(const std::filesystem::path& path, Extensions ext = {});
  static Database from_file(const std::filesystem::path& path, const Env& env, Extensions ext = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  /// The named connection. @throws ConfigError listing the configured names.
  [[nodiscard]] Connection& connection(std::string_view name);
  /// The default connection (`default` / DB_CONNECTION). @throws ConfigError if none.
  [[nodiscard]] Connection& connection();
  [[nodiscard]] bool has_connection(std::string_view name) const noexcept;
  [[nodiscard]] bool has_shard_group(std::string_view name) const noexcept { return m_groups.contains(name); }
  /// A connection or a shard group by name, as something to query (what a
  /// model declaring either runs on). Defined with the groups, in shard/.
  /// @throws ConfigError when it is neither.
  [[nodiscard]] Queryable& queryable(std::string_view name);
  /// Names in configuration order.
  [[nodiscard]] std::vector<std::string> connection_names() const;
  /// The configuration, with engine names resolved to their canonical names.
  [[nodiscard]] const DatabaseConfig& config() const noexcept { return m_cfg; }
  /// The engines this Database knows: the built-in ones and those added.
  [[nodiscard]] const driver::EngineRegistry& engines() const noexcept { return m_engines; }

  /// Hooks for every connection.
  /// Each returns a handle whose remove() takes the hook out again.
  /// @throws UsageError for an empty hook (nullptr or an empty std::function).
  HookHandle on_before_query(QueryHook h);
  HookHandle on_after_query(QueryHook h);
  HookHandle on_error(QueryHook h);
  HookHandle on_slow_query(std::chrono::nanoseconds threshold, QueryHook fn) {
    return on_after_query(slow_query_hook(threshold, std::move(fn)));
  }

  /// A query builder on `table` of the named connection: the seed's
  /// `query('users', 'users_db')` / `QueryBuilder.create('users', db)`.
  /// @throws ConfigError for an unknown connection, UsageError for a bad table name.
  [[nodiscard]] QueryBuilder table(std::string_view table, std::string_view connection_name);

  /// A typed model bound to the connection its schema declares (or the
  /// default connection). Defined in plexus/orm/model.hpp.
  /// @throws ConfigError when that connection is not configured.
  template <class T>
  [[nodiscard]] Model<T> model();

  /// Runs `fn` with one transaction per named connection and commits them
  /// all or none (two-phase commit; see plexus/tx/global_transaction.hpp and
  /// docs/transactions.md): `db.transaction({"users_db", "orders_db"}, fn)`.
  /// Returns what `fn` returns. Defined with the coordinator, in tx/.
  template <class F>
  auto transaction(std::initializer_list<std::string_view> connections, F&& fn, const TransactionOptions& opts = {})
      -> std::invoke_result_t<F, GlobalTransaction&>;
  /// Begins a global transaction to drive by hand (commit() / rollback()).
  [[nodiscard]] GlobalTransaction begin(std::initializer_list<std::string_view> connections,
                                        const TransactionOptions& opts = {});
  [[nodiscard]] GlobalTransaction begin(std::span<const std::string> connections, const TransactionOptions& opts = {});
  /// Resolves every prepared branch this coordinator left (commit where the
  /// decision log says so, else roll back), under a lock that keeps two
  /// recoverers apart. Returns what it did, per participant.
  RecoveryReport recover(const RecoverOptions& opts);
  RecoveryReport recover();
  /// The prepared branches waiting on every connection that can prepare
  /// (whichever coordinator began them), and the connections that could not
  /// be looked at.
  [[nodiscard]] PendingReport pending_transactions();
  /// This instance's coordinator id (transactions.coordinator, else the host name).
  [[nodiscard]] const std::string& coordinator_id() const;

  /// A shard group by name (docs/sharding.md): route by key, fan reads out
  /// and merge them. Defined with the groups, in shard/.
  /// @throws ConfigError for an unknown group, listing the configured ones.
  [[nodiscard]] ShardGroup& shards(std::string_view group);

  /// Runs independent pieces of work at once and returns their results in
  /// order: the seed's `Promise.all` for a dashboard reading several databases.
  /// The first runs on the calling thread, the others on the Database's
  /// bounded executor (transactions.parallelism threads), so at most that many
  /// more sessions are busy. Every piece runs to its end; then the first
  /// exception, if any, is rethrown.
  ///   auto [users, orders] = db.concurrently(
  ///       [&] { return db.connection("users_db").table("users").count(); },
  ///       [&] { return db.connection("orders_db").select("SELECT …"); });
  template <class... F>
  [[nodiscard]] auto concurrently(F&&... work) -> std::tuple<std::invoke_result_t<F&>...> {
    static_assert(sizeof...(F) > 0, "concurrently() needs something to run");
    static_assert((!std::is_void_v<std::invoke_result_t<F&>> && ...),
                  "each piece of work given to concurrently() must return its result (return 0 if there is none)");
    std::tuple<std::optional<std::invoke_result_t<F&>>...> out;
    auto fns = std::forward_as_tuple(work...);
    std::vector<std::function<void()>> tasks;
    tasks.reserve(sizeof...(F));
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (tasks.emplace_back([&] { std::get<I>(out).emplace(std::get<I>(fns)()); }), ...);
    }(std::index_sequence_for<F...>{});
    run_concurrently(tasks);
    return std::apply([](auto&... v) { return std::tuple<std::invoke_result_t<F&>...>(std::move(*v)...); }, out);
  }

  /// Sessions open across every pool (what max_connections caps).
  [[nodiscard]] std::size_t open_sessions() const;

  /// Health of every connection (pings each host).
  [[nodiscard]] std::vector<ConnectionHealth> health();

  /// A snapshot of every counter, gauge and latency histogram, per
  /// connection, host, role and shard group (docs/metrics.md); to_prometheus()
  /// on it gives the text a Prometheus server scrapes. Cheap: no round trip.
  [[nodiscard]] Metrics metrics() const;

 private:
  /// Runs the tasks on the bounded executor and rethrows the first failure.
  void run_concurrently(const std::vector<std::function<void()>>& tasks);

  DatabaseConfig m_cfg;
  driver::EngineRegistry m_engines;
  std::shared_ptr<detail::HookRegistry> m_hooks;
  // Declared before the connections: their pools give slots back on destruction.
  std::unique_ptr<ConnectionBudget> m_budget;
  std::map<std::string, std::unique_ptr<Connection>, std::less<>> m_connections;
  std::unique_ptr<detail::Coordinator> m_coordinator;
  std::map<std::string, std::unique_ptr<ShardGroup>, std::less<>> m_groups;
};

}  // namespace plexus

// ConnectionRegistry: the named connections of a Database, their engines,
// hooks and session budget, and where the shard groups and the coordinator
// built above db/ are found by name. Everything below the Database facade
// (models, copy/move, resharding, migrations, the coordinator) takes this.
#pragma once

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
#include "plexus/driver/engine_registry.hpp"

namespace plexus {

class ShardGroup;
namespace detail {
class HookRegistry;
class Coordinator;
class TaskPool;
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

class ConnectionRegistry {
 public:
  /// Validates the configuration (engine names, engine options and their
  /// types, strategies, required fields) and creates every Connection; no
  /// session is opened until first use. @throws ConfigError naming the
  /// connection (and the file and key when it came from a file).
  explicit ConnectionRegistry(DatabaseConfig cfg, const Extensions& ext = {});
  ConnectionRegistry(ConnectionRegistry&&) noexcept;
  ConnectionRegistry& operator=(ConnectionRegistry&&) noexcept;
  ~ConnectionRegistry();

  /// The named connection. @throws ConfigError listing the configured names.
  [[nodiscard]] Connection& connection(std::string_view name);
  /// The default connection (`default` / DB_CONNECTION). @throws ConfigError if none.
  [[nodiscard]] Connection& connection();
  [[nodiscard]] bool has_connection(std::string_view name) const noexcept;
  [[nodiscard]] bool has_shard_group(std::string_view name) const noexcept { return m_groups.contains(name); }
  /// A connection or a shard group by name, as something to query (what a
  /// model declaring either runs on). @throws ConfigError when it is neither.
  [[nodiscard]] Queryable& queryable(std::string_view name);
  /// A shard group by name (docs/sharding.md): route by key, fan reads out
  /// and merge them. @throws ConfigError for an unknown group, listing the configured ones.
  [[nodiscard]] ShardGroup& shards(std::string_view group);
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

  /// The coordinator of cross-database transactions (tx/; set by the Database
  /// facade that built this registry). @throws UsageError when there is none.
  [[nodiscard]] detail::Coordinator& coordinator() const;
  /// The bounded executor concurrently(), fan-outs and two-phase commit phases run on.
  [[nodiscard]] detail::TaskPool& executor() const noexcept { return *m_executor; }

 protected:
  /// What the facade builds above db/ and lends the registry (it owns them,
  /// and outlives the registry's use of them: they are destroyed with it).
  void add_shard_group(const std::string& name, ShardGroup& group, Queryable& as_target);
  void set_coordinator(detail::Coordinator& coordinator) noexcept { m_coordinator = &coordinator; }
  /// Every connection's pool, router and transaction counters, into `m`.
  void collect_connection_metrics(Metrics& m) const;

 private:
  /// Runs the tasks on the bounded executor and rethrows the first failure.
  void run_concurrently(const std::vector<std::function<void()>>& tasks);

  struct Group {
    ShardGroup* group;
    Queryable* target;
  };

  DatabaseConfig m_cfg;
  driver::EngineRegistry m_engines;
  std::shared_ptr<detail::HookRegistry> m_hooks;
  std::unique_ptr<detail::TaskPool> m_executor;
  // Declared before the connections: their pools give slots back on destruction.
  std::unique_ptr<ConnectionBudget> m_budget;
  std::map<std::string, std::unique_ptr<Connection>, std::less<>> m_connections;
  std::map<std::string, Group, std::less<>> m_groups;
  detail::Coordinator* m_coordinator = nullptr;
};

}  // namespace plexus

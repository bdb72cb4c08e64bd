#include "plexus/db/registry.hpp"

#include "db/connection_core.hpp"
#include "db/task_pool.hpp"
#include "plexus/core/error.hpp"

namespace plexus {

ConnectionRegistry::ConnectionRegistry(DatabaseConfig cfg, const Extensions& ext)
    : m_cfg(std::move(cfg)), m_engines(driver::EngineRegistry::builtin()),
      m_hooks(std::make_shared<detail::HookRegistry>()) {
  for (const auto& e : ext.engines) m_engines.add(e);
  m_cfg.validate();
  // Everything that depends on an engine is checked here, before any
  // connection exists: its name, its options and their types, what it requires.
  struct Checked {
    const driver::Engine* engine;
    driver::Options options;
    PickerFactory picker;
  };
  std::vector<Checked> checked;
  for (auto& c : m_cfg.connections) {
    const driver::Engine* engine = m_engines.find(c.driver);
    if (!engine) {
      try {
        (void)m_engines.get(c.driver);
      } catch (const ConfigError& e) {
        throw ConfigError(c.where("driver") + ": " + e.message());
      }
    }
    c.driver = std::string(engine->name());
    auto options = driver::Options::parse(c, engine->options(), engine->name());
    engine->validate(c, options);
    PickerFactory picker;
    if (auto it = ext.pickers.find(c.load_balance); it != ext.pickers.end()) picker = it->second;
    else if (auto b = builtin_pickers().find(c.load_balance); b != builtin_pickers().end()) picker = b->second;
    else {
      std::string known;
      for (const auto& [n, f] : builtin_pickers()) known += (known.empty() ? "" : ", ") + n;
      for (const auto& [n, f] : ext.pickers) known += ", " + n;
      throw ConfigError(c.where("load_balance") + ": unknown strategy '" + c.load_balance + "' (known: " + known + ")");
    }
    checked.push_back({engine, std::move(options), std::move(picker)});
  }
  if (m_cfg.max_connections > 0) m_budget = std::make_unique<ConnectionBudget>(m_cfg.max_connections);
  for (std::size_t i = 0; i < m_cfg.connections.size(); ++i) {
    const auto& c = m_cfg.connections[i];
    auto core = std::make_unique<detail::ConnectionCore>(c, *checked[i].engine, std::move(checked[i].options),
                                                         checked[i].picker(), m_hooks, m_budget.get());
    m_connections.emplace(c.name, std::make_unique<Connection>(std::move(core)));
  }
  m_executor = std::make_unique<detail::TaskPool>(m_cfg.transactions.parallelism);
}

ConnectionRegistry::ConnectionRegistry(ConnectionRegistry&&) noexcept = default;
ConnectionRegistry& ConnectionRegistry::operator=(ConnectionRegistry&&) noexcept = default;
ConnectionRegistry::~ConnectionRegistry() = default;

HookHandle ConnectionRegistry::on_before_query(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::before, std::move(h), "on_before_query()");
}
HookHandle ConnectionRegistry::on_after_query(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::after, std::move(h), "on_after_query()");
}
HookHandle ConnectionRegistry::on_error(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::error, std::move(h), "on_error()");
}

Connection& ConnectionRegistry::connection(std::string_view name) {
  if (auto it = m_connections.find(name); it != m_connections.end()) return *it->second;
  std::string list;
  for (const auto& c : m_cfg.connections) list += (list.empty() ? "" : ", ") + c.name;
  throw ConfigError("unknown connection '" + std::string(name) + "' (configured: " +
                    (list.empty() ? "none" : list) + "); check the spelling or add it to the configuration");
}

Connection& ConnectionRegistry::connection() {
  if (m_cfg.default_connection.empty())
    throw ConfigError(
        "no default connection: set `default = \"name\"` in the configuration or the DB_CONNECTION environment "
        "variable, or name the connection");
  return connection(m_cfg.default_connection);
}

bool ConnectionRegistry::has_connection(std::string_view name) const noexcept { return m_connections.contains(name); }

std::vector<std::string> ConnectionRegistry::connection_names() const { return m_cfg.names(); }

void ConnectionRegistry::run_concurrently(const std::vector<std::function<void()>>& tasks) {
  const auto errors = m_executor->run_all(tasks);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::size_t ConnectionRegistry::open_sessions() const {
  std::size_t n = 0;
  for (const auto& [name, c] : m_connections) n += c->open_sessions();
  return n;
}

std::vector<ConnectionHealth> ConnectionRegistry::health() {
  std::vector<ConnectionHealth> out;
  for (const auto& c : m_cfg.connections) out.push_back(m_connections.at(c.name)->health());
  return out;
}

Queryable& ConnectionRegistry::queryable(std::string_view name) {
  if (auto it = m_groups.find(name); it != m_groups.end()) return *it->second.target;
  return connection(name);
}

ShardGroup& ConnectionRegistry::shards(std::string_view group) {
  if (auto it = m_groups.find(group); it != m_groups.end()) return *it->second.group;
  std::string list;
  for (const auto& g : m_cfg.shard_groups) list += (list.empty() ? "" : ", ") + g.name;
  throw ConfigError("unknown shard group '" + std::string(group) + "' (configured: " + (list.empty() ? "none" : list) +
                    "); add it under [shards." + std::string(group) + "] or with DatabaseConfig::add_shard_group");
}

void ConnectionRegistry::add_shard_group(const std::string& name, ShardGroup& group, Queryable& as_target) {
  m_groups.insert_or_assign(name, Group{&group, &as_target});
}

detail::Coordinator& ConnectionRegistry::coordinator() const {
  if (!m_coordinator)
    throw UsageError("this connection registry has no transaction coordinator: cross-database transactions, copy "
                     "and move run on a plexus::Database");
  return *m_coordinator;
}

}  // namespace plexus

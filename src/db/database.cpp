#include "plexus/db/database.hpp"

#include "db/connection_core.hpp"
#include "shard/groups.hpp"
#include "tx/coordinator.hpp"
#include "plexus/core/error.hpp"

namespace plexus {

Database::Database(DatabaseConfig cfg, Extensions ext)
    : m_cfg(std::move(cfg)), m_engines(driver::EngineRegistry::builtin()),
      m_hooks(std::make_shared<detail::HookRegistry>()) {
  for (auto& e : ext.engines) m_engines.add(std::move(e));
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
  for (const auto& g : m_cfg.shard_groups)
    m_groups.emplace(g.name, detail::make_shard_group(
                                 g, [&](std::string_view n) -> Connection& { return connection(n); }, ext.shard_strategies));
  m_coordinator = std::make_unique<detail::Coordinator>(m_cfg.transactions);
  if (m_cfg.transactions.recover_on_start) {
    try {
      (void)recover();
    } catch (const Error&) {
      // A server down at start: its branches wait for the next recover().
    }
  }
}

Database Database::from_file(const std::filesystem::path& path, Extensions ext) {
  Env env = Env::system();
  env.load_dotenv(".env");
  return from_file(path, env, std::move(ext));
}

Database Database::from_file(const std::filesystem::path& path, const Env& env, Extensions ext) {
  return Database(DatabaseConfig::from_toml_file(path, env), std::move(ext));
}

Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

HookHandle Database::on_before_query(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::before, std::move(h), "on_before_query()");
}
HookHandle Database::on_after_query(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::after, std::move(h), "on_after_query()");
}
HookHandle Database::on_error(QueryHook h) {
  return m_hooks->add(&detail::HookRegistry::Set::error, std::move(h), "on_error()");
}

Connection& Database::connection(std::string_view name) {
  if (auto it = m_connections.find(name); it != m_connections.end()) return *it->second;
  std::string list;
  for (const auto& c : m_cfg.connections) list += (list.empty() ? "" : ", ") + c.name;
  throw ConfigError("unknown connection '" + std::string(name) + "' (configured: " +
                    (list.empty() ? "none" : list) + "); check the spelling or add it to the configuration");
}

Connection& Database::connection() {
  if (m_cfg.default_connection.empty())
    throw ConfigError(
        "no default connection: set `default = \"name\"` in the configuration or the DB_CONNECTION environment "
        "variable, or name the connection");
  return connection(m_cfg.default_connection);
}

bool Database::has_connection(std::string_view name) const noexcept { return m_connections.contains(name); }

std::vector<std::string> Database::connection_names() const { return m_cfg.names(); }

void Database::run_concurrently(const std::vector<std::function<void()>>& tasks) {
  const auto errors = m_coordinator->pool().run_all(tasks);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::size_t Database::open_sessions() const {
  std::size_t n = 0;
  for (const auto& [name, c] : m_connections) n += c->open_sessions();
  return n;
}

std::vector<ConnectionHealth> Database::health() {
  std::vector<ConnectionHealth> out;
  for (const auto& c : m_cfg.connections) out.push_back(m_connections.at(c.name)->health());
  return out;
}

}  // namespace plexus

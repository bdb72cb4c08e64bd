#include "plexus/db/database.hpp"

#include "plexus/core/error.hpp"

namespace plexus {

Database::Database(DatabaseConfig cfg) : m_cfg(std::move(cfg)), m_hooks(std::make_shared<HookRegistry>()) {
  for (auto& c : m_cfg.connections)
    if (auto d = normalize_driver(c.driver)) c.driver = *d;
  m_cfg.validate();
  if (m_cfg.max_connections > 0) m_budget = std::make_unique<ConnectionBudget>(m_cfg.max_connections);
  for (const auto& c : m_cfg.connections)
    m_connections.emplace(c.name, std::make_unique<Connection>(c, m_hooks, m_budget.get()));
}

Database Database::from_file(const std::filesystem::path& path) {
  Env env = Env::system();
  env.load_dotenv(".env");
  return from_file(path, env);
}

Database Database::from_file(const std::filesystem::path& path, const Env& env) {
  return Database(DatabaseConfig::from_toml_file(path, env));
}

Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

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

std::size_t Database::open_sessions() const {
  std::size_t n = 0;
  for (const auto& [name, c] : m_connections) {
    n += c->pool_stats().open;
    for (std::size_t i = 0; i < c->replica_count(); ++i) n += c->replica_pool_stats(i).open;
  }
  return n;
}

std::vector<ConnectionHealth> Database::health() {
  std::vector<ConnectionHealth> out;
  for (const auto& c : m_cfg.connections) out.push_back(m_connections.at(c.name)->health());
  return out;
}

}  // namespace plexus

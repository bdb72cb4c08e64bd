#include "plexus/config/config.hpp"

#include <algorithm>

#include "plexus/core/error.hpp"

namespace plexus {

std::string Endpoint::to_string() const {
  if (!socket.empty()) return socket;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port ? h + ":" + std::to_string(port) : h;
}

std::string_view to_string(LoadBalance lb) noexcept {
  switch (lb) {
    case LoadBalance::round_robin: return "round_robin";
    case LoadBalance::random: return "random";
    case LoadBalance::weighted: return "weighted";
    case LoadBalance::least_outstanding: return "least_outstanding";
  }
  return "?";
}

std::optional<std::string> normalize_driver(std::string_view name) {
  if (name == "sqlite" || name == "sqlite3") return "sqlite";
  if (name == "postgres" || name == "postgresql" || name == "pgsql" || name == "pg") return "postgres";
  if (name == "mysql" || name == "mariadb" || name == "mysql2") return "mysql";
  return std::nullopt;
}

std::optional<std::string> ConnectionConfig::option(std::string_view key) const {
  auto it = options.find(std::string(key));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

std::string ConnectionConfig::to_string() const {
  std::string s = name.empty() ? std::string("<unnamed>") : name;
  s += " (" + (driver.empty() ? std::string("no driver") : driver) + ")";
  if (driver == "sqlite") {
    s += " " + database;
  } else {
    s += " ";
    if (!username.empty()) s += username + (password.empty() ? "" : ":***") + "@";
    for (std::size_t i = 0; i < hosts.size(); ++i) s += (i ? "," : "") + hosts[i].to_string();
    s += "/" + database;
  }
  for (const auto& [k, v] : options) {
    bool secret = k.find("password") != std::string::npos || k == "sslkey_password";
    s += " " + k + "=" + (secret ? "***" : v);
  }
  if (!read_hosts.empty()) {
    s += " read_hosts=[";
    for (std::size_t i = 0; i < read_hosts.size(); ++i) s += (i ? "," : "") + read_hosts[i].to_string();
    s += "] load_balance=" + std::string(plexus::to_string(load_balance));
  }
  if (sticky) s += " sticky";
  if (read_only) s += " read_only";
  // Defence in depth: the password's text never shows, even where a user
  // copied it into another field (found by fuzz_config).
  if (password.size() >= 4)
    for (auto p = s.find(password); p != std::string::npos; p = s.find(password, p + 3)) s.replace(p, password.size(), "***");
  return s;
}

ConnectionConfig sqlite(std::string path) {
  ConnectionConfig c;
  c.driver = "sqlite";
  c.database = std::move(path);
  return c;
}

ConnectionConfig& DatabaseConfig::add(std::string name, ConnectionConfig cfg) {
  cfg.name = name;
  if (auto d = normalize_driver(cfg.driver)) cfg.driver = *d;
  for (auto& c : connections)
    if (c.name == name) return c = std::move(cfg);
  return connections.emplace_back(std::move(cfg));
}

ConnectionConfig& DatabaseConfig::add(std::string name, std::string_view url) {
  try {
    return add(std::move(name), parse_url(url));
  } catch (ConfigError& e) {
    throw ConfigError("connection '" + name + "': " + e.message());
  }
}

const ConnectionConfig* DatabaseConfig::find(std::string_view name) const noexcept {
  for (const auto& c : connections)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<std::string> DatabaseConfig::names() const {
  std::vector<std::string> out;
  for (const auto& c : connections) out.push_back(c.name);
  return out;
}

void DatabaseConfig::validate(std::string_view source) const {
  auto fail = [&](const ConnectionConfig& c, const std::string& what) {
    throw ConfigError(std::string(source) + ": connection '" + c.name + "': " + what);
  };
  for (const auto& c : connections) {
    if (c.name.empty()) throw ConfigError(std::string(source) + ": a connection has no name");
    if (c.driver.empty()) fail(c, "no driver given (set driver = \"sqlite\", \"postgresql\" or \"mysql\", or a url)");
    if (!normalize_driver(c.driver))
      fail(c, "unknown driver '" + c.driver + "' (use sqlite, postgresql or mysql)");
    if (c.driver == "sqlite" && c.database.empty())
      fail(c, "sqlite needs database = \"path/to/file.db\" (or \":memory:\")");
    if (c.driver != "sqlite" && c.hosts.empty()) fail(c, "no host given (set host = \"…\" or a url)");
    if (c.pool.max == 0) fail(c, "pool.max must be at least 1");
    if (c.pool.min > c.pool.max) fail(c, "pool.min (" + std::to_string(c.pool.min) + ") exceeds pool.max (" +
                                             std::to_string(c.pool.max) + ")");
  }
  if (!default_connection.empty() && !find(default_connection)) {
    std::string list;
    for (const auto& c : connections) list += (list.empty() ? "" : ", ") + c.name;
    throw ConfigError(std::string(source) + ": default connection '" + default_connection +
                      "' is not configured (configured: " + (list.empty() ? "none" : list) + ")");
  }
}

std::string DatabaseConfig::to_string() const {
  std::string s = "default: " + (default_connection.empty() ? std::string("(none)") : default_connection) + "\n";
  for (const auto& c : connections) s += "  " + c.to_string() + "\n";
  return s;
}

}  // namespace plexus

#include "plexus/config/config.hpp"

#include <algorithm>
#include <cctype>

#include "plexus/core/error.hpp"

namespace plexus {

std::string Endpoint::to_string() const {
  if (!socket.empty()) return socket;
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port ? h + ":" + std::to_string(port) : h;
}

std::span<const std::string_view> connection_keys() noexcept {
  static constexpr std::string_view keys[] = {
      "driver", "url", "host", "hosts", "port", "socket", "database", "username", "password", "options", "pool",
      "read_hosts", "load_balance", "sticky", "causal", "causal_wait_ms", "max_replica_lag_ms",
      "replica_cooldown_ms", "failover_wait_ms", "query_timeout_ms", "read_only", "migrations"};
  return keys;
}

std::string ConnectionConfig::where(std::string_view key) const {
  const std::string file = source.empty() ? std::string() : source + ": ";
  if (key.empty()) return file + "connection '" + name + "'";
  if (!section.empty()) return file + "key '" + section + "." + std::string(key) + "'";
  return file + "connection '" + name + "', key '" + std::string(key) + "'";
}

std::optional<std::string> ConnectionConfig::option(std::string_view key) const {
  auto it = options.find(std::string(key));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

namespace {
/// Defence in depth: a password's text never shows, even where a user copied
/// it into another field or a connection's name (found by fuzz_config).
/// Shorter than four characters it would mask ordinary text, and such a
/// password is shown nowhere else either.
bool redact_text(std::string& s, std::string_view password) {
  if (password.size() < 4) return false;
  bool masked = false;
  for (auto p = s.find(password); p != std::string::npos; p = s.find(password, p + 3)) {
    s.replace(p, password.size(), "***");
    masked = true;
  }
  return masked;
}
}  // namespace

std::string ConnectionConfig::to_string() const {
  std::string s = name.empty() ? std::string("<unnamed>") : name;
  s += " (" + (driver.empty() ? std::string("no driver") : driver) + ")";
  if (hosts.empty()) {
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
    s += "] load_balance=" + load_balance;
  }
  if (sticky) s += " sticky";
  if (read_only) s += " read_only";
  redact_text(s, password);
  return s;
}

ConnectionConfig& DatabaseConfig::add(std::string name, ConnectionConfig cfg) {
  cfg.name = name;
  for (auto& c : connections)
    if (c.name == name) return c = std::move(cfg);
  return connections.emplace_back(std::move(cfg));
}

ShardGroupConfig& DatabaseConfig::add_shard_group(std::string name, std::vector<std::string> members,
                                                  std::string strategy) {
  ShardGroupConfig g;
  g.name = name;
  g.members = std::move(members);
  g.strategy = std::move(strategy);
  for (auto& existing : shard_groups)
    if (existing.name == name) return existing = std::move(g);
  return shard_groups.emplace_back(std::move(g));
}

const ShardGroupConfig* DatabaseConfig::find_shard_group(std::string_view name) const noexcept {
  for (const auto& g : shard_groups)
    if (g.name == name) return &g;
  return nullptr;
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
  // What depends on the engine (its name, options, required fields) is
  // checked when a Database is built, which knows the engines.
  for (const auto& c : connections) {
    if (c.name.empty()) throw ConfigError(std::string(source) + ": a connection has no name");
    if (c.driver.empty()) fail(c, "no driver given (set driver = \"…\" or a url)");
    if (c.pool.max == 0) fail(c, "pool.max must be at least 1");
    if (c.pool.min > c.pool.max) fail(c, "pool.min (" + std::to_string(c.pool.min) + ") exceeds pool.max (" +
                                             std::to_string(c.pool.max) + ")");
  }
  const auto& t = transactions;
  for (char c : t.coordinator)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      throw ConfigError(std::string(source) + ": transactions.coordinator '" + t.coordinator +
                        "' may hold letters, digits, _ and - only");
  if (t.coordinator.size() > 32)
    throw ConfigError(std::string(source) + ": transactions.coordinator is longer than 32 characters (it goes into XA ids)");
  if (!t.log_connection.empty() && !find(t.log_connection))
    throw ConfigError(std::string(source) + ": transactions.log_connection '" + t.log_connection +
                      "' is not a configured connection");
  if (t.parallelism == 0) throw ConfigError(std::string(source) + ": transactions.parallelism must be at least 1");
  for (const auto& g : shard_groups) {
    const std::string where = std::string(source) + ": shard group '" + g.name + "'";
    if (g.name.empty()) throw ConfigError(std::string(source) + ": a shard group has no name");
    if (find(g.name)) throw ConfigError(where + ": a connection has the same name; give the group its own");
    if (g.members.empty()) throw ConfigError(where + ": no members (list the connections that hold its shards)");
    for (std::size_t i = 0; i < g.members.size(); ++i) {
      if (!find(g.members[i]))
        throw ConfigError(where + ": member '" + g.members[i] + "' is not a configured connection");
      for (std::size_t j = 0; j < i; ++j)
        if (g.members[j] == g.members[i]) throw ConfigError(where + ": member '" + g.members[i] + "' is listed twice");
    }
    for (const auto& other : shard_groups)
      if (&other != &g && other.name == g.name) throw ConfigError(where + ": defined twice");
    if (!g.control.empty() && !find(g.control))
      throw ConfigError(where + ": control '" + g.control + "' is not a configured connection (it holds the group's "
                        "layout during an online reshard: plexus_reshards)");
    if (g.watch_ms < 10 || g.watch_ms > 60000)
      throw ConfigError(where + ": watch_ms must be between 10 and 60000 (it is " + std::to_string(g.watch_ms) + ")");
  }
  if (!default_connection.empty() && !find(default_connection)) {
    std::string list;
    for (const auto& c : connections) list += (list.empty() ? "" : ", ") + c.name;
    std::string message = std::string(source) + ": default connection '" + default_connection +
                          "' is not configured (configured: " + (list.empty() ? "none" : list) + ")";
    redact(message);
    throw ConfigError(message);
  }
}

std::string DatabaseConfig::to_string() const {
  std::string s = "default: " + (default_connection.empty() ? std::string("(none)") : default_connection) + "\n";
  for (const auto& c : connections) s += "  " + c.to_string() + "\n";
  redact(s);  // one connection's password may be spelled in another's name
  return s;
}

bool DatabaseConfig::redact(std::string& text) const {
  bool masked = false;
  for (const auto& c : connections) masked |= redact_text(text, c.password);
  return masked;
}

std::optional<bool> parse_flag(std::string_view text) {
  std::string v(text);
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return std::nullopt;
}

}  // namespace plexus

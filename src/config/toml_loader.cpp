// config/database.toml → DatabaseConfig. The only translation unit that sees toml++.
#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "plexus/config/config.hpp"
#include "plexus/core/error.hpp"

namespace plexus {
namespace {

class Loader {
 public:
  Loader(std::string_view source, const Env& env) : m_source(source), m_env(env) {}

  DatabaseConfig load(const toml::table& root) {
    DatabaseConfig cfg;
    for (auto&& [k, node] : root) {
      std::string key(k.str());
      if (key == "default") {
        cfg.default_connection = string(node, "default");
      } else if (key == "max_connections") {
        cfg.max_connections = static_cast<std::size_t>(integer(node, "max_connections", 0, 1000000));
      } else if (key == "transactions") {
        const auto* t = node.as_table();
        if (!t) fail("transactions", "must be a table");
        for (auto&& [tk, tv] : *t) {
          const std::string sub = "transactions." + std::string(tk.str());
          if (tk == "coordinator") cfg.transactions.coordinator = string(tv, sub);
          else if (tk == "log_connection") cfg.transactions.log_connection = string(tv, sub);
          else if (tk == "log_file") cfg.transactions.log_file = string(tv, sub);
          else if (tk == "recover_on_start") cfg.transactions.recover_on_start = boolean(tv, sub);
          else if (tk == "parallelism") cfg.transactions.parallelism = static_cast<std::size_t>(integer(tv, sub, 1, 256));
          else fail(sub, "unknown key (expected coordinator, log_connection, log_file, recover_on_start, parallelism)");
        }
      } else if (key == "shards") {
        const auto* groups = node.as_table();
        if (!groups) fail("shards", "must be a table of [shards.NAME] sections");
        for (auto&& [name, gnode] : *groups) {
          const std::string where = "shards." + std::string(name.str());
          const auto* t = gnode.as_table();
          if (!t) fail(where, "must be a table");
          cfg.shard_groups.push_back(shard_group(std::string(name.str()), *t, where));
        }
      } else if (key == "connections") {
        const auto* conns = node.as_table();
        if (!conns) fail("connections", "must be a table of [connections.NAME] sections");
        // toml++ keeps a table's keys sorted: put the connections back in
        // the order the file lists them (connection_names() promises it).
        std::vector<std::pair<toml::source_position, ConnectionConfig>> found;
        for (auto&& [name, cnode] : *conns) {
          const auto* t = cnode.as_table();
          std::string where = "connections." + std::string(name.str());
          if (!t) fail(where, "must be a table");
          found.emplace_back(name.source().begin, connection(std::string(name.str()), *t, where));
        }
        std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
          return a.first.line != b.first.line ? a.first.line < b.first.line : a.first.column < b.first.column;
        });
        for (auto& f : found) cfg.connections.push_back(std::move(f.second));
      } else {
        fail(key, "unknown top-level key (expected 'default', 'max_connections', [transactions], [shards.NAME] and [connections.NAME] sections)");
      }
    }
    if (auto d = m_env.get("DB_CONNECTION"); d && !d->empty()) cfg.default_connection = *d;
    if (cfg.default_connection.empty() && cfg.connections.size() == 1)
      cfg.default_connection = cfg.connections.front().name;
    cfg.validate(m_source);
    return cfg;
  }

 private:
  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw ConfigError(m_source + ": key '" + std::string(key) + "': " + std::string(problem));
  }

  std::string where_in(std::string_view key) const { return m_source + ": key '" + std::string(key) + "'"; }

  std::string string(const toml::node& n, std::string_view key) const {
    if (auto s = n.value<std::string>()) {
      std::string text = m_env.interpolate(*s, where_in(key));
      // A NUL would end the text early where it reaches C (a file name, a host, a password).
      if (text.find('\0') != std::string::npos)
        fail(key, "holds a NUL byte (\\u0000), which no engine, file name or host takes");
      return text;
    }
    fail(key, std::string("expected a string, found ") + type_name(n));
  }

  std::int64_t integer(const toml::node& n, std::string_view key, std::int64_t lo, std::int64_t hi) const {
    std::int64_t v = 0;
    if (n.is_integer()) {
      v = n.value<std::int64_t>().value_or(0);
    } else if (n.is_string()) {
      std::string s = string(n, key);
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size() || s.empty())
        fail(key, "expected an integer, got '" + s + "'");
    } else {
      fail(key, std::string("expected an integer, found ") + type_name(n));
    }
    if (v < lo || v > hi) fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  }

  bool boolean(const toml::node& n, std::string_view key) const {
    // Only a TOML boolean or a string spelling one: toml++ would also read
    // any integer as a boolean (2 as true).
    if (n.is_boolean()) return n.value<bool>().value_or(false);
    if (n.is_string()) {
      const std::string s = string(n, key);
      if (s.empty()) return false;  // an unset ${VAR:-}
      if (auto b = parse_flag(s)) return *b;
      fail(key, "expected true or false, got '" + s + "'");
    }
    fail(key, std::string("expected true or false, found ") + type_name(n));
  }

  /// An engine option as text (TOML integers and booleans too, so they can
  /// also come from the environment as strings).
  std::string option(const toml::node& n, std::string_view key) const {
    if (n.is_integer()) return std::to_string(n.value<std::int64_t>().value_or(0));
    if (n.is_boolean()) return n.value<bool>().value_or(false) ? "true" : "false";
    if (n.is_string()) return string(n, key);
    fail(key, std::string("expected a string, number or boolean, found ") + type_name(n));
  }

  ShardGroupConfig shard_group(std::string name, const toml::table& t, const std::string& where) const {
    ShardGroupConfig g;
    g.name = std::move(name);
    for (auto&& [k, v] : t) {
      const std::string sub = where + "." + std::string(k.str());
      if (k == "members") {
        const auto* arr = v.as_array();
        if (!arr) fail(sub, "expected an array of connection names");
        for (std::size_t i = 0; i < arr->size(); ++i) g.members.push_back(string(*arr->get(i), sub));
      } else if (k == "strategy") {
        g.strategy = string(v, sub);
      } else if (k == "key") {
        g.key = string(v, sub);
      } else if (k == "parallelism") {
        g.parallelism = static_cast<std::size_t>(integer(v, sub, 0, 1024));
      } else if (k == "control") {
        g.control = string(v, sub);
      } else if (k == "watch_ms") {
        g.watch_ms = static_cast<std::uint32_t>(integer(v, sub, 10, 60000));
      } else if (k == "ranges") {
        const auto* arr = v.as_array();
        if (!arr) fail(sub, "expected an array of { member = \"…\", from = …, to = … } tables");
        for (std::size_t i = 0; i < arr->size(); ++i) {
          const std::string at = sub + "[" + std::to_string(i) + "]";
          const auto* r = arr->get(i)->as_table();
          if (!r) fail(at, "expected a table { member = \"…\", from = …, to = … }");
          ShardRange range;
          for (auto&& [rk, rv] : *r) {
            const std::string rsub = at + "." + std::string(rk.str());
            if (rk == "member") range.member = string(rv, rsub);
            else if (rk == "from") range.from = bound(rv, rsub);
            else if (rk == "to") range.to = bound(rv, rsub);
            else fail(rsub, "unknown key (expected member, from, to)");
          }
          g.ranges.push_back(std::move(range));
        }
      } else if (k == "directory") {
        const auto* d = v.as_table();
        if (!d) fail(sub, "expected a table { connection, table, key_column, member_column }");
        for (auto&& [dk, dv] : *d) {
          const std::string dsub = sub + "." + std::string(dk.str());
          if (dk == "connection") g.directory.connection = string(dv, dsub);
          else if (dk == "table") g.directory.table = string(dv, dsub);
          else if (dk == "key_column") g.directory.key_column = string(dv, dsub);
          else if (dk == "member_column") g.directory.member_column = string(dv, dsub);
          else fail(dsub, "unknown key (expected connection, table, key_column, member_column)");
        }
      } else if (k == "ids") {
        const auto* tables = v.as_table();
        if (!tables) fail(sub, "expected [" + sub + ".TABLE] sections { connection, kind, column, sequence, block, lease }");
        for (auto&& [table, spec] : *tables) {
          const std::string at = sub + "." + std::string(table.str());
          const auto* s = spec.as_table();
          if (!s) fail(at, "expected a table { connection, kind, column, sequence, block, lease }");
          ShardIdsConfig ids;
          ids.table = std::string(table.str());
          bool block = false, lease = false;
          for (auto&& [ik, iv] : *s) {
            const std::string isub = at + "." + std::string(ik.str());
            if (ik == "connection") ids.connection = string(iv, isub);
            else if (ik == "kind") ids.kind = string(iv, isub);
            else if (ik == "column") ids.column = string(iv, isub);
            else if (ik == "sequence") ids.sequence = string(iv, isub);
            else if (ik == "block") ids.block = integer(iv, isub, 1, 1000000000), block = true;
            else if (ik == "lease") ids.lease_s = integer(iv, isub, 2, 86400), lease = true;
            else fail(isub, "unknown key (expected connection, kind, column, sequence, block, lease)");
          }
          if (ids.kind != "sequence" && ids.kind != "time")
            fail(at + ".kind", "unknown id source '" + ids.kind + "' (expected \"sequence\" or \"time\")");
          if (ids.kind == "time" && block) fail(at + ".block", "block is for kind = \"sequence\"; time ids lease a worker id");
          if (ids.kind == "sequence" && lease) fail(at + ".lease", "lease is for kind = \"time\"; a sequence reserves blocks");
          if (ids.connection.empty())
            fail(at, "needs connection = \"…\": where the control table (plexus_id_blocks or plexus_id_workers) lives");
          g.ids.push_back(std::move(ids));
        }
      } else {
        fail(sub, "unknown key (expected members, strategy, key, ranges, directory, parallelism, ids, control, watch_ms)");
      }
    }
    return g;
  }

  /// A range bound: an integer or a string key.
  Value bound(const toml::node& n, std::string_view key) const {
    if (n.is_integer()) return Value(n.value<std::int64_t>().value_or(0));
    if (n.is_string()) return Value(string(n, key));
    fail(key, std::string("expected an integer or a string key, found ") + type_name(n));
  }

  static const char* type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      default: return "a date/time";
    }
  }

  Endpoint endpoint(const toml::node& n, std::string_view key) const {
    Endpoint e;
    if (n.is_string()) {
      std::string s = string(n, key);
      if (s.starts_with("/")) {
        e.socket = s;
        return e;
      }
      auto colon = s.rfind(':');
      e.host = s.substr(0, colon);
      if (colon != std::string::npos) {
        unsigned p = 0;
        auto [ptr, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), p);
        if (ec != std::errc{} || ptr != s.data() + s.size() || p == 0 || p > 65535)
          fail(key, "'" + s + "' is not host[:port] with a port from 1 to 65535");
        e.port = static_cast<std::uint16_t>(p);
      }
      if (e.host.empty()) fail(key, "empty host");
      return e;
    }
    const auto* t = n.as_table();
    if (!t) fail(key, "expected \"host:port\" or { host = …, port = …, weight = … }");
    for (auto&& [k, v] : *t) {
      std::string sub = std::string(key) + "." + std::string(k.str());
      if (k == "host") e.host = string(v, sub);
      else if (k == "port") e.port = static_cast<std::uint16_t>(integer(v, sub, 1, 65535));
      else if (k == "socket") e.socket = string(v, sub);
      else if (k == "weight") e.weight = static_cast<unsigned>(integer(v, sub, 0, 1000000));
      else fail(sub, "unknown key (expected host, port, socket, weight)");
    }
    if (e.host.empty() && e.socket.empty()) fail(key, "needs host or socket");
    return e;
  }

  void pool(const toml::node& n, PoolConfig& p, std::string_view key) const {
    const auto* t = n.as_table();
    if (!t) fail(key, "must be a table");
    for (auto&& [k, node] : *t) {
      const toml::node& v = node;  // a plain reference: lambdas may capture it (clang 14)
      std::string sub = std::string(key) + "." + std::string(k.str());
      auto ms = [&] { return std::chrono::milliseconds(integer(v, sub, 0, 86400000)); };
      if (k == "min") p.min = static_cast<std::size_t>(integer(v, sub, 0, 10000));
      else if (k == "max") p.max = static_cast<std::size_t>(integer(v, sub, 1, 10000));
      else if (k == "acquire_timeout_ms") p.acquire_timeout = ms();
      else if (k == "idle_timeout_ms") p.idle_timeout = ms();
      else if (k == "max_lifetime_ms") p.max_lifetime = ms();
      else if (k == "validate_after_ms") p.validate_after = ms();
      else if (k == "leak_warning_ms") p.leak_warning = ms();
      else fail(sub, "unknown key (expected min, max, acquire_timeout_ms, idle_timeout_ms, max_lifetime_ms, validate_after_ms, leak_warning_ms)");
    }
  }

  ConnectionConfig connection(std::string name, const toml::table& t, const std::string& where) const {
    ConnectionConfig c;
    // A url is the base; explicit keys override it.
    if (const auto* url = t.get("url")) {
      std::string u = string(*url, where + ".url");
      try {
        c = parse_url(u);
      } catch (const ConfigError& e) {
        fail(where + ".url", e.message());
      }
    }
    c.name = std::move(name);
    std::optional<std::uint16_t> port;
    std::optional<std::string> host;
    bool hosts_given = false;
    for (auto&& [k, v] : t) {
      std::string key(k.str());
      std::string sub = where + "." + key;
      if (key == "url") continue;
      if (key == "driver") {
        c.driver = string(v, sub);  // resolved (and refused if unknown) when the Database is built
      } else if (key == "host") host = string(v, sub);
      else if (key == "port") port = static_cast<std::uint16_t>(integer(v, sub, 1, 65535));
      else if (key == "socket") {
        Endpoint ep;
        ep.socket = string(v, sub);
        c.hosts = {std::move(ep)};
      }
      else if (key == "database") c.database = string(v, sub);
      else if (key == "username" || key == "user") c.username = string(v, sub);
      else if (key == "password") c.password = string(v, sub);
      else if (key == "options") {
        const auto* ot = v.as_table();
        if (!ot) fail(sub, "must be a table of engine options");
        for (auto&& [ok, ov] : *ot) c.options[std::string(ok.str())] = option(ov, sub + "." + std::string(ok.str()));
      } else if (key == "pool") pool(v, c.pool, sub);
      else if (key == "read_hosts") {
        const auto* arr = v.as_array();
        if (!arr) fail(sub, "must be an array of \"host:port\" strings or { host, port, weight } tables");
        c.read_hosts.clear();
        for (std::size_t i = 0; i < arr->size(); ++i)
          c.read_hosts.push_back(endpoint(*arr->get(i), sub + "[" + std::to_string(i) + "]"));
      } else if (key == "load_balance") {
        c.load_balance = string(v, sub);  // a built-in or registered picker, checked by the Database
      } else if (key == "sticky") c.sticky = boolean(v, sub);
      else if (key == "causal") c.causal = boolean(v, sub);
      else if (key == "causal_wait_ms") c.causal_wait = std::chrono::milliseconds(integer(v, sub, 0, 60000));
      else if (key == "max_replica_lag_ms") c.max_replica_lag = std::chrono::milliseconds(integer(v, sub, 0, 86400000));
      else if (key == "query_timeout_ms") c.query_timeout = std::chrono::milliseconds(integer(v, sub, 0, 86400000));
      else if (key == "replica_cooldown_ms") c.replica_cooldown = std::chrono::milliseconds(integer(v, sub, 0, 3600000));
      else if (key == "failover_wait_ms") c.failover_wait = std::chrono::milliseconds(integer(v, sub, 0, 600000));
      else if (key == "hosts") {
        const auto* arr = v.as_array();
        if (!arr || arr->empty()) fail(sub, "must be a non-empty array of \"host:port\" strings or { host, port } tables");
        hosts_given = true;
        c.hosts.clear();
        for (std::size_t i = 0; i < arr->size(); ++i)
          c.hosts.push_back(endpoint(*arr->get(i), sub + "[" + std::to_string(i) + "]"));
      }
      else if (key == "read_only") c.read_only = boolean(v, sub);
      else if (key == "migrations") c.migrations = string(v, sub);
      else c.options[key] = option(v, sub);  // an engine option: its engine checks name and type
    }
    c.source = m_source;
    c.section = where;
    if (hosts_given && (host || port))
      fail(where + ".hosts", "give either host/port or hosts (the primary candidates), not both");
    if (host) {
      if (c.hosts.empty()) c.hosts.emplace_back();
      c.hosts.front().host = *host;
      c.hosts.front().socket.clear();
    }
    if (port) {
      if (c.hosts.empty()) fail(where + ".port", "a port needs a host");
      c.hosts.front().port = *port;
    }
    // Replicas inherit the primary's port when they give none.
    if (!c.hosts.empty())
      for (auto& r : c.read_hosts)
        if (r.port == 0 && r.socket.empty()) r.port = c.hosts.front().port;
    return c;
  }

  std::string m_source;
  const Env& m_env;
};

/// TOML allows non-ASCII text only inside strings and comments. Anything else
/// is refused here, before toml++ sees it: its 3.3 release reaches undefined
/// behaviour for some such characters (found by tests/fuzz/fuzz_config.cpp).
void check_non_ascii(std::string_view text, std::string_view source_name) {
  enum class In { code, basic, literal, ml_basic, ml_literal, comment } in = In::code;
  std::size_t line = 1, col = 0;
  char prev = '\n';  // last significant character in code: a quote opens a string only after = [ , { . or a line start
  auto where = [&] { return std::string(source_name) + ":" + std::to_string(line) + ":" + std::to_string(col); };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ++col;
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      throw ConfigError(where() + ": invalid TOML: control character " + std::to_string(c) + " (not allowed in TOML)");
    if (c == '\n') {
      ++line;
      col = 0;
      if (in == In::comment || in == In::basic || in == In::literal) in = In::code;
      if (in == In::code) prev = '\n';
      continue;
    }
    auto starts = [&](std::string_view t) { return text.substr(i, t.size()) == t; };
    auto skip = [&](std::size_t n) {
      i += n;
      col += n;
    };
    switch (in) {
      case In::code: {
        if (c >= 0x80)
          throw ConfigError(where() + ": invalid TOML: a non-ASCII character outside a string or comment (quote the key)");
        const bool may_open = prev == '=' || prev == '[' || prev == ',' || prev == '{' || prev == '.' || prev == '\n';
        if (c != ' ' && c != '\t' && c != '\r') prev = static_cast<char>(c);
        if ((c == '"' || c == '\'') && !may_open) break;  // not a string in TOML: stay strict
        if (c == '#') {
          in = In::comment;
        } else if (starts("\"\"\"")) {
          in = In::ml_basic;
          skip(2);
        } else if (starts("'''")) {
          in = In::ml_literal;
          skip(2);
        } else if (c == '"') {
          in = In::basic;
        } else if (c == '\'') {
          in = In::literal;
        }
        break;
      }
      case In::basic:
        if (c == '\\') skip(1);
        else if (c == '"') in = In::code, prev = '"';
        break;
      case In::literal:
        if (c == '\'') in = In::code, prev = '\'';
        break;
      case In::ml_basic:
        if (c == '\\') {
          skip(1);
        } else if (starts("\"\"\"")) {
          in = In::code;
          prev = '"';
          skip(2);
        }
        break;
      case In::ml_literal:
        if (starts("'''")) {
          in = In::code;
          prev = '\'';
          skip(2);
        }
        break;
      case In::comment: break;
    }
  }
}

}  // namespace

DatabaseConfig DatabaseConfig::from_toml_string(std::string_view text, std::string_view source_name, const Env& env) {
  check_non_ascii(text, source_name);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError(std::string(source_name) + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                      ": invalid TOML: " + std::string(e.description()));
  }
  return Loader(source_name, env).load(root);
}

DatabaseConfig DatabaseConfig::from_toml_file(const std::filesystem::path& path, const Env& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError(path.string() + ": cannot open the configuration file (create it, or pass --config PATH)");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_toml_string(ss.str(), path.string(), env);
}

}  // namespace plexus

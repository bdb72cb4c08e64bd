#include "shard/strategy.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/transaction.hpp"
#include "plexus/query/builder.hpp"

namespace plexus::detail {

void ShardStrategy::assign(const Value&, std::size_t) {
  throw UsageError("only a directory strategy records where a key lives; this group places keys by " + describe());
}

std::uint64_t stable_key_hash(const Value& key) {
  auto mix = [](std::uint64_t x) {  // a 64-bit finaliser: nearby integers spread over the whole range
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  };
  switch (key.type()) {
    case Value::Type::integer: return mix(static_cast<std::uint64_t>(key.raw_int()));
    case Value::Type::text:
    case Value::Type::bytes: {
      std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the bytes
      for (unsigned char c : key.text_view()) {
        h ^= c;
        h *= 0x100000001b3ULL;
      }
      return mix(h);
    }
    default:
      throw UsageError("a shard key must be an integer or text, not " + std::string(Value::type_name(key.type())));
  }
}

std::size_t jump_bucket(std::uint64_t hash, std::size_t buckets) noexcept {
  std::int64_t b = -1, j = 0;
  while (j < static_cast<std::int64_t>(buckets)) {
    b = j;
    hash = hash * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(static_cast<double>(b + 1) *
                                  (static_cast<double>(1LL << 31) / static_cast<double>((hash >> 33) + 1)));
  }
  return static_cast<std::size_t>(b);
}

namespace {

std::string key_text(const Value& key) { return key.is_null() ? "NULL" : key.to_string(); }

[[noreturn]] void wrong_key(const std::string& group, const Value& key, std::string_view wanted) {
  throw UsageError("shard group '" + group + "': key " + key_text(key) + " is " +
                   std::string(Value::type_name(key.type())) + ", but its strategy needs " + std::string(wanted));
}

class Modulo final : public ShardStrategy {
 public:
  Modulo(std::string group, std::size_t n) : m_group(std::move(group)), m_n(static_cast<std::int64_t>(n)) {}
  std::size_t place(const Value& key) const override {
    if (key.type() != Value::Type::integer) wrong_key(m_group, key, "an integer (modulo)");
    return static_cast<std::size_t>(((key.raw_int() % m_n) + m_n) % m_n);
  }
  std::string describe() const override { return "modulo " + std::to_string(m_n); }

 private:
  std::string m_group;
  std::int64_t m_n;
};

class JumpHash final : public ShardStrategy {
 public:
  JumpHash(std::string group, std::size_t n) : m_group(std::move(group)), m_n(n) {}
  std::size_t place(const Value& key) const override {
    if (key.type() != Value::Type::integer && key.type() != Value::Type::text)
      wrong_key(m_group, key, "an integer or text (hash)");
    return jump_bucket(stable_key_hash(key), m_n);
  }
  std::string describe() const override { return "hash (jump consistent hashing over " + std::to_string(m_n) + ")"; }

 private:
  std::string m_group;
  std::size_t m_n;
};

/// -1, 0, 1 for two non-null bounds of one type (integer or text).
int compare_bound(const Value& a, const Value& b) {
  if (a.type() == Value::Type::integer) return a.raw_int() < b.raw_int() ? -1 : a.raw_int() > b.raw_int() ? 1 : 0;
  const int c = a.text_view().compare(b.text_view());
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

class Ranges final : public ShardStrategy {
 public:
  Ranges(const ShardGroupConfig& g) : m_group(g.name) {
    auto fail = [&](const std::string& what) { throw ConfigError("shard group '" + g.name + "': " + what); };
    if (g.ranges.empty()) fail("strategy 'range' needs ranges (each { member, from, to })");
    for (const auto& r : g.ranges) {
      auto m = std::find(g.members.begin(), g.members.end(), r.member);
      if (m == g.members.end()) fail("range for '" + r.member + "': not a member of the group");
      for (const Value* b : {&r.from, &r.to}) {
        if (b->is_null()) continue;
        if (b->type() != Value::Type::integer && b->type() != Value::Type::text)
          fail("range bounds must be integers or text, not " + std::string(Value::type_name(b->type())));
        if (!m_type) m_type = b->type();
        else if (*m_type != b->type()) fail("range bounds mix integers and text; use one key type");
      }
      if (!r.from.is_null() && !r.to.is_null() && compare_bound(r.from, r.to) >= 0)
        fail("range for '" + r.member + "' is empty: from " + key_text(r.from) + " is not below to " + key_text(r.to));
      m_ranges.push_back({r.from, r.to, static_cast<std::size_t>(m - g.members.begin())});
    }
    std::sort(m_ranges.begin(), m_ranges.end(), [](const Range& a, const Range& b) {
      if (a.from.is_null() != b.from.is_null()) return a.from.is_null();
      return !a.from.is_null() && compare_bound(a.from, b.from) < 0;
    });
    for (std::size_t i = 0; i + 1 < m_ranges.size(); ++i) {
      const Range& a = m_ranges[i];
      const Range& b = m_ranges[i + 1];
      if (a.to.is_null() || b.from.is_null())
        fail("ranges overlap: two ranges are open on the same side");
      const int c = compare_bound(a.to, b.from);
      if (c > 0) fail("ranges overlap between " + key_text(b.from) + " and " + key_text(a.to));
      if (c < 0) fail("keys from " + key_text(a.to) + " up to " + key_text(b.from) + " fall in no range (a gap)");
    }
  }
  std::size_t place(const Value& key) const override {
    if (key.type() != m_type) wrong_key(m_group, key, std::string(Value::type_name(*m_type)) + " (range)");
    // The last range whose from is at or below the key.
    auto it = std::upper_bound(m_ranges.begin(), m_ranges.end(), key, [](const Value& k, const Range& r) {
      return !r.from.is_null() && compare_bound(k, r.from) < 0;
    });
    if (it != m_ranges.begin()) {
      const Range& r = *std::prev(it);
      if (r.to.is_null() || compare_bound(key, r.to) < 0) return r.member;
    }
    throw UsageError("shard group '" + m_group + "': key " + key_text(key) + " falls outside every range");
  }
  std::string describe() const override { return "range (" + std::to_string(m_ranges.size()) + " ranges)"; }

 private:
  struct Range {
    Value from, to;
    std::size_t member;
  };
  std::string m_group;
  std::optional<Value::Type> m_type;
  std::vector<Range> m_ranges;
};

class Directory final : public ShardStrategy {
 public:
  Directory(const ShardGroupConfig& g, Connection& conn) : m_group(g.name), m_members(g.members), m_dir(g.directory), m_conn(conn) {
    check_name(m_dir.table);
    check_name(m_dir.key_column);
    check_name(m_dir.member_column);
    m_lookup = lookup_sql();  // built once: a cache miss runs it as is
  }
  std::size_t place(const Value& key) const override {
    if (key.type() != Value::Type::integer && key.type() != Value::Type::text)
      wrong_key(m_group, key, "an integer or text (directory)");
    const std::string k = cache_key(key);
    {
      std::lock_guard lock(m_mutex);
      if (auto it = m_cache.find(k); it != m_cache.end()) return it->second;
    }
    // On the primary: a key assigned a moment ago must be found.
    const Value member = m_conn.on_primary().scalar(m_lookup, {key});
    if (member.is_null())
      throw UsageError("shard group '" + m_group + "': key " + key_text(key) + " is not in the directory table '" +
                       m_dir.table + "' on '" + m_conn.name() + "'; place it with db.shards(\"" + m_group +
                       "\").assign(key, member)");
    const std::size_t index = index_of(member.as<std::string>());
    std::lock_guard lock(m_mutex);
    if (m_cache.size() >= kCacheMax) m_cache.clear();  // bounded: a full cache starts over
    m_cache[k] = index;
    return index;
  }
  void assign(const Value& key, std::size_t member) override {
    const std::string& name = m_members.at(member);
    m_conn.transaction([&](Transaction& tx) {
      tx.table(m_dir.table).where(m_dir.key_column, key).all_rows().remove();
      tx.table(m_dir.table).insert({{m_dir.key_column, key}, {m_dir.member_column, name}});
    });
    std::lock_guard lock(m_mutex);
    m_cache[cache_key(key)] = member;
  }
  std::string describe() const override { return "directory (" + m_conn.name() + "." + m_dir.table + ")"; }

 private:
  static constexpr std::size_t kCacheMax = 100000;
  static std::string cache_key(const Value& key) {
    return (key.type() == Value::Type::integer ? "i" : "t") + key.to_string();
  }
  std::string lookup_sql() const {
    std::string sql = "SELECT ";
    const Grammar& g = m_conn.grammar();
    g.identifier(sql, m_dir.member_column);
    sql += " FROM ";
    g.identifier(sql, m_dir.table);
    sql += " WHERE ";
    g.identifier(sql, m_dir.key_column);
    sql += " = ?";
    return sql;
  }
  std::size_t index_of(const std::string& member) const {
    for (std::size_t i = 0; i < m_members.size(); ++i)
      if (m_members[i] == member) return i;
    throw UsageError("shard group '" + m_group + "': the directory names '" + member + "', which is not a member");
  }
  std::string m_group;
  std::vector<std::string> m_members;
  ShardDirectory m_dir;
  Connection& m_conn;
  std::string m_lookup;
  mutable std::mutex m_mutex;
  mutable std::unordered_map<std::string, std::size_t> m_cache;
};

class Custom final : public ShardStrategy {
 public:
  Custom(std::string group, std::string name, ShardFunction fn, std::size_t n)
      : m_group(std::move(group)), m_name(std::move(name)), m_fn(std::move(fn)), m_n(n) {}
  std::size_t place(const Value& key) const override {
    const std::size_t i = m_fn(key, m_n);
    if (i >= m_n)
      throw UsageError("shard group '" + m_group + "': strategy '" + m_name + "' placed key " + key_text(key) +
                       " on member " + std::to_string(i) + " of " + std::to_string(m_n));
    return i;
  }
  std::string describe() const override { return m_name; }

 private:
  std::string m_group, m_name;
  ShardFunction m_fn;
  std::size_t m_n;
};

}  // namespace

std::unique_ptr<ShardStrategy> make_shard_strategy(const ShardGroupConfig& g,
                                                   const std::map<std::string, ShardFunction, std::less<>>& registered,
                                                   const std::function<Connection&(std::string_view)>& connection) {
  const auto error = [&](const std::string& what) { return ConfigError("shard group '" + g.name + "': " + what); };
  const auto fail = [&](const std::string& what) { throw error(what); };
  const std::size_t n = g.members.size();
  if (!g.key.empty()) {
    try {
      check_name(g.key);
    } catch (const Error& e) {
      fail("key: " + e.message());
    }
  }
  if (g.strategy != "range" && !g.ranges.empty()) fail("ranges are given but the strategy is '" + g.strategy + "'");
  if (g.strategy != "directory" && !g.directory.connection.empty())
    fail("a directory is given but the strategy is '" + g.strategy + "'");
  if (g.strategy != "custom" && g.custom) fail("a custom function is given but the strategy is '" + g.strategy + "'");
  if (g.strategy == "modulo") return std::make_unique<Modulo>(g.name, n);
  if (g.strategy == "hash") return std::make_unique<JumpHash>(g.name, n);
  if (g.strategy == "range") return std::make_unique<Ranges>(g);
  if (g.strategy == "directory") {
    if (g.directory.connection.empty()) fail("strategy 'directory' needs directory.connection (where its table lives)");
    try {
      return std::make_unique<Directory>(g, connection(g.directory.connection));
    } catch (const ConfigError& e) {
      throw error("directory.connection: " + e.message());
    } catch (const UsageError& e) {
      throw error("directory: " + e.message());
    }
  }
  if (g.strategy == "custom") {
    if (!g.custom) fail("strategy 'custom' needs a function (ShardGroupConfig::custom)");
    return std::make_unique<Custom>(g.name, "custom", g.custom, n);
  }
  if (auto it = registered.find(g.strategy); it != registered.end())
    return std::make_unique<Custom>(g.name, g.strategy, it->second, n);
  std::string known = "modulo, range, hash, directory, custom";
  for (const auto& [name, fn] : registered) known += ", " + name;
  throw error("unknown strategy '" + g.strategy + "' (known: " + known + ")");
}

}  // namespace plexus::detail

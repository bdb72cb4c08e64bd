// The SQLite engine descriptor: names, dialect, capabilities, options and
// the session factory. Compiled whether or not libsqlite3 was found (then
// sessions cannot be opened, but names, grammar and options still work).
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "drivers/sqlite/grammar.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/engine.hpp"
#if PLEXUS_ENGINE_ENABLED
#include "drivers/sqlite/session.hpp"
#endif

namespace plexus {

ConnectionConfig sqlite(std::string path) {
  ConnectionConfig c;
  c.driver = "sqlite";
  c.database = std::move(path);
  return c;
}

}  // namespace plexus

namespace plexus::engine::sqlite {
namespace {

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

/// The words of one column definition, quoted names unquoted.
std::vector<std::string> words_of(std::string_view def) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < def.size();) {
    const char c = def[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '"' || c == '`' || c == '[' || c == '\'') {
      const char close = c == '[' ? ']' : c;
      std::string word;
      for (++i; i < def.size(); ++i) {
        if (def[i] == close) {
          if (close != ']' && i + 1 < def.size() && def[i + 1] == close) {
            word += close;
            ++i;
            continue;
          }
          ++i;
          break;
        }
        word += def[i];
      }
      out.push_back(std::move(word));
    } else if (c == '(') {  // a type's size or a default's expression: skipped whole
      int depth = 0;
      for (; i < def.size(); ++i) {
        if (def[i] == '(') ++depth;
        else if (def[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    } else {
      std::size_t j = i;
      while (j < def.size() && !std::isspace(static_cast<unsigned char>(def[j])) && def[j] != '(') ++j;
      out.emplace_back(def.substr(i, j - i));
      i = j;
    }
  }
  return out;
}

}  // namespace

/// Each column of a CREATE TABLE statement with its COLLATE clause's
/// collation ("" when it has none).
std::vector<std::pair<std::string, std::string>> column_collations(std::string_view create) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto open = create.find('(');
  if (open == std::string_view::npos) return out;
  std::vector<std::string_view> defs;
  int depth = 0;
  char quote = 0;
  std::size_t start = open + 1;
  for (std::size_t i = open + 1; i < create.size(); ++i) {
    const char c = create[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') quote = c;
    else if (c == '[') quote = ']';
    else if (c == '(') ++depth;
    else if (c == ')' && depth-- == 0) {
      defs.push_back(create.substr(start, i - start));
      break;
    } else if (c == ',' && depth == 0) {
      defs.push_back(create.substr(start, i - start));
      start = i + 1;
    }
  }
  for (const auto def : defs) {
    const auto words = words_of(def);
    if (words.empty()) continue;
    const std::string& first = words.front();
    if (ieq(first, "CONSTRAINT") || ieq(first, "PRIMARY") || ieq(first, "UNIQUE") || ieq(first, "CHECK") ||
        ieq(first, "FOREIGN"))
      continue;  // a table constraint, not a column
    // A column of text affinity (its type names CHAR, CLOB or TEXT) compares
    // by BINARY unless it says otherwise; any other column holds no text.
    std::string type = words.size() > 1 ? words[1] : std::string();
    for (auto& ch : type) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    const bool text = type.find("CHAR") != std::string::npos || type.find("CLOB") != std::string::npos ||
                      type.find("TEXT") != std::string::npos;
    std::string collation = text ? "BINARY" : "";
    for (std::size_t w = 1; w + 1 < words.size(); ++w)
      if (ieq(words[w], "COLLATE")) collation = words[w + 1];
    out.emplace_back(first, collation);
  }
  return out;
}

namespace {

bool is_memory(const std::string& db) { return db == ":memory:" || db.find("mode=memory") != std::string::npos; }

constexpr std::string_view kAliases[] = {"sqlite3"};
constexpr driver::OptionSpec kOptions[] = {
    {"busy_timeout", driver::OptionSpec::Type::milliseconds, "5000",
     "how long a statement waits for another connection's lock", 0, 86'400'000},
    {"statement_cache", driver::OptionSpec::Type::integer, "256", "prepared statements kept per session", 1, 100'000},
};

class Engine final : public driver::Engine {
 public:
  std::string_view name() const noexcept override { return "sqlite"; }
  std::span<const std::string_view> aliases() const noexcept override { return kAliases; }
  const Grammar& grammar() const noexcept override { return sqlite::grammar(); }
  driver::Capabilities capabilities() const noexcept override {
    driver::Capabilities c;
    c.server = false;
    c.returning = true;
    c.transactional_ddl = true;
    return c;
  }
  std::span<const driver::OptionSpec> options() const noexcept override { return kOptions; }
  bool available() const noexcept override { return PLEXUS_ENGINE_ENABLED; }

  std::unique_ptr<driver::Session> connect(const driver::Target& t) const override {
#if PLEXUS_ENGINE_ENABLED
    const auto& cfg = t.config;
    if (!is_memory(cfg.database) && !cfg.database.starts_with("file:")) {
      // Like a server creating its data directory: a new file's folder is made on first use.
      auto parent = std::filesystem::path(cfg.database).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    }
    return std::make_unique<Session>(t, cfg.database);
#else
    not_in_this_build(t, "libsqlite3-dev");
#endif
  }

  // SQLite keeps no row estimates (count_rows: they are counted); sizes come from
  // the dbstat table (pages of the table and its indexes).
  std::optional<driver::CatalogQueries> catalog() const override {
    return driver::CatalogQueries{
        "SELECT s.name AS name, NULL AS rows,"
        " (SELECT SUM(d.pgsize) FROM dbstat d JOIN sqlite_schema x ON x.name = d.name WHERE x.tbl_name = s.name)"
        " AS bytes"
        " FROM sqlite_schema s WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY s.name",
        "SELECT name, type, \"notnull\" = 0 AS nullable, dflt_value AS default_value, pk > 0 AS primary_key"
        " FROM pragma_table_info(?) ORDER BY cid",
        "SELECT l.name AS name, (SELECT group_concat(i.name, ', ') FROM pragma_index_info(l.name) i) AS columns,"
        " l.\"unique\" AS is_unique, l.origin = 'pk' AS is_primary FROM pragma_index_list(?) l ORDER BY l.name",
        true,
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?"};
  }

  // SQLite keeps a column's collation only in the table's CREATE statement.
  std::vector<std::pair<std::string, std::string>> read_collations(const Result& r) const override {
    if (r.size() == 0 || r[0][0].is_null()) return {};
    return column_collations(r[0][0].to_string());
  }

  // BINARY (the default) orders by bytes, NOCASE and RTRIM do not; LIKE
  // ignores the case of ASCII letters whatever the collation.
  driver::TextRules text_rules(std::string_view collation) const override {
    const bool binary = collation.empty() || ieq(collation, "BINARY");
    return {binary, false};
  }

  std::optional<driver::ConsoleCommand> console(const ConnectionConfig& cfg, const Endpoint*) const override {
    return driver::ConsoleCommand{{"sqlite3", cfg.database}, {}, "sqlite3"};
  }

  std::string describe(const ConnectionConfig& cfg, const Endpoint*) const override {
    if (is_memory(cfg.database) || cfg.database.starts_with("file:")) return cfg.database;
    std::error_code ec;
    auto abs = std::filesystem::absolute(cfg.database, ec);
    return ec ? cfg.database : abs.lexically_normal().string();
  }
  bool shareable(const ConnectionConfig& cfg) const override { return !is_memory(cfg.database); }
  std::optional<std::string> missing(const ConnectionConfig& cfg, const Endpoint*) const override {
    if (is_memory(cfg.database) || cfg.database.starts_with("file:")) return std::nullopt;
    std::error_code ec;
    if (std::filesystem::exists(cfg.database, ec)) return std::nullopt;
    return "the SQLite file " + describe(cfg, nullptr) + " does not exist yet (it is created on first use)";
  }
};

}  // namespace
}  // namespace plexus::engine::sqlite

namespace plexus::driver {

const Engine& sqlite_engine() {
  static const engine::sqlite::Engine e;
  return e;
}

}  // namespace plexus::driver

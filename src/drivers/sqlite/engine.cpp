// The SQLite engine descriptor: names, dialect, capabilities, options and
// the session factory. Compiled whether or not libsqlite3 was found (then
// sessions cannot be opened, but names, grammar and options still work).
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
        true};
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

// The MySQL / MariaDB engine descriptor: names, dialect, capabilities,
// options and the session factory.
#include <mutex>

#include "drivers/mysql/grammar.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/engine.hpp"
#if PLEXUS_ENGINE_ENABLED
#include "drivers/mysql/session.hpp"
#endif

namespace plexus::engine::mysql {
namespace {

using Type = driver::OptionSpec::Type;
constexpr std::string_view kAliases[] = {"mariadb", "mysql2"};
constexpr std::string_view kSslModes[] = {"disable", "prefer", "require", "verify-ca", "verify-full", "verify_identity"};
constexpr driver::OptionSpec kOptions[] = {
    {"ssl", Type::flag, "", "true: TLS required; false: no TLS"},
    {"sslmode", Type::choice, "", "TLS mode (verify-ca and verify-full check the server certificate)", 0, 0, kSslModes},
    {"sslrootcert", Type::text, "", "CA certificate file"},
    {"sslcert", Type::text, "", "client certificate file"},
    {"sslkey", Type::text, "", "client key file"},
    {"connect_timeout", Type::seconds, "10", "seconds to open a session", 1, 3600},
    {"statement_cache", Type::integer, "256", "prepared statements kept per session", 1, 100'000},
};

bool tls_mode(const std::string& m) { return m != "disable" && m != "prefer"; }

class Engine final : public driver::Engine {
 public:
  std::string_view name() const noexcept override { return "mysql"; }
  std::span<const std::string_view> aliases() const noexcept override { return kAliases; }
  const Grammar& grammar() const noexcept override { return mysql::grammar(); }
  driver::Capabilities capabilities() const noexcept override {
    driver::Capabilities c;
    c.two_phase_commit = true;
    c.replication = true;
    return c;
  }
  std::span<const driver::OptionSpec> options() const noexcept override { return kOptions; }
  bool available() const noexcept override { return PLEXUS_ENGINE_ENABLED; }

  void validate(const ConnectionConfig& cfg, const driver::Options& o) const override {
    driver::Engine::validate(cfg, o);
    if (o.given("ssl") && o.given("sslmode") && tls_mode(o.text("sslmode")) != o.flag("ssl"))
      throw ConfigError(cfg.where("sslmode") + ": sslmode = '" + o.text("sslmode") + "' contradicts ssl = " +
                        (o.flag("ssl") ? "true" : "false") + "; keep one of them");
  }

  // information_schema of the connection's database; TABLE_ROWS is InnoDB's estimate.
  std::optional<driver::CatalogQueries> catalog() const override {
    return driver::CatalogQueries{
        "SELECT TABLE_NAME AS name, TABLE_ROWS AS `rows`, DATA_LENGTH + INDEX_LENGTH AS bytes"
        " FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        " ORDER BY TABLE_NAME",
        "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE = 'YES' AS nullable,"
        " COLUMN_DEFAULT AS default_value, COLUMN_KEY = 'PRI' AS primary_key"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
        " ORDER BY ORDINAL_POSITION",
        "SELECT INDEX_NAME AS name, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR ', ') AS columns,"
        " MIN(NON_UNIQUE) = 0 AS is_unique, INDEX_NAME = 'PRIMARY' AS is_primary"
        " FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
        " GROUP BY INDEX_NAME ORDER BY INDEX_NAME",
        false,
        "SELECT COLUMN_NAME AS name, COLLATION_NAME AS collation"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"};
  }

  // Only a binary collation (…_bin, binary) orders text by its bytes; LIKE
  // follows the column's collation (the default, …_ci, ignores case).
  driver::TextRules text_rules(std::string_view collation) const override {
    const bool binary = collation.empty() || collation == "binary" || collation.ends_with("_bin");
    return {binary, binary};
  }

  std::optional<driver::ConsoleCommand> console(const ConnectionConfig& cfg, const Endpoint* host) const override {
    driver::ConsoleCommand c{{"mariadb"}, {}, "mariadb-client"};
    if (host && !host->socket.empty()) c.argv.push_back("--socket=" + host->socket);
    else if (host) c.argv.insert(c.argv.end(), {"-h", host->host});
    if (host && host->port) c.argv.insert(c.argv.end(), {"-P", std::to_string(host->port)});
    if (!cfg.username.empty()) c.argv.insert(c.argv.end(), {"-u", cfg.username});
    if (!cfg.password.empty()) c.env.emplace_back("MYSQL_PWD", cfg.password);
    if (!cfg.database.empty()) c.argv.push_back(cfg.database);
    return c;
  }

  std::unique_ptr<driver::Session> connect(const driver::Target& t) const override {
#if PLEXUS_ENGINE_ENABLED
    library_init();
    return std::make_unique<Session>(t);
#else
    not_in_this_build(t, "libmariadb-dev");
#endif
  }
  /// Without TLS only: Connector/C (GnuTLS) blocks inside its TLS handshake
  /// even in mysql_real_connect_start, so such a session connects on a worker.
  std::unique_ptr<driver::PendingSession> connect_start(const driver::Target& t) const override {
#if PLEXUS_ENGINE_ENABLED
    library_init();
    auto pending = std::make_unique<PendingSession>(t);
    if (!pending->plain()) return nullptr;
    return pending;
#else
    not_in_this_build(t, "libmariadb-dev");
#endif
  }
  static void library_init() {
#if PLEXUS_ENGINE_ENABLED
    static std::once_flag once;  // the client library's global set-up, before any thread opens a session
    std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
#endif
  }
};

}  // namespace
}  // namespace plexus::engine::mysql

namespace plexus::driver {

const Engine& mysql_engine() {
  static const engine::mysql::Engine e;
  return e;
}

}  // namespace plexus::driver

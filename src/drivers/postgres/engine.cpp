// The PostgreSQL engine descriptor: names, dialect, capabilities, options
// (libpq connection keywords, checked when the Database is built) and the
// session factory.
#include <algorithm>
#include <cctype>

#include "drivers/postgres/grammar.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/engine.hpp"
#if PLEXUS_ENGINE_ENABLED
#include "drivers/postgres/session.hpp"
#endif

namespace plexus::engine::postgres {
namespace {

using Type = driver::OptionSpec::Type;
constexpr std::string_view kAliases[] = {"postgresql", "pgsql", "pg"};
constexpr std::string_view kSslModes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
constexpr std::string_view kSessionAttrs[] = {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"};
constexpr std::string_view kRequirePrefer[] = {"disable", "prefer", "require"};
constexpr driver::OptionSpec kOptions[] = {
    {"ssl", Type::flag, "", "true: TLS required (sslmode=require); false: no TLS (sslmode=disable)"},
    {"sslmode", Type::choice, "", "libpq's TLS mode", 0, 0, kSslModes},
    {"sslrootcert", Type::text, "", "CA certificate file"},
    {"sslcert", Type::text, "", "client certificate file"},
    {"sslkey", Type::text, "", "client key file"},
    {"sslpassword", Type::text, "", "the client key's password", 0, 0, {}, true},
    {"sslcrl", Type::text, "", "certificate revocation list file"},
    {"application_name", Type::text, "plexus", "shown in pg_stat_activity"},
    {"connect_timeout", Type::seconds, "10", "seconds to open a session (libpq counts 1 as 2)", 0, 3600},
    {"statement_cache", Type::integer, "256", "prepared statements kept per session; 0 = none (pgbouncer in transaction mode)", 0, 100'000},
    {"target_session_attrs", Type::choice, "", "which of several hosts to use", 0, 0, kSessionAttrs},
    {"keepalives", Type::flag, "", "TCP keepalives"},
    {"keepalives_idle", Type::seconds, "", "idle seconds before a keepalive", 0, 86'400},
    {"keepalives_interval", Type::seconds, "", "seconds between keepalives", 0, 86'400},
    {"keepalives_count", Type::integer, "", "keepalives lost before the connection is dead", 0, 1000},
    {"tcp_user_timeout", Type::milliseconds, "", "how long sent data may stay unacknowledged", 0, 86'400'000},
    {"options", Type::text, "", "server settings for the session (-c name=value …)"},
    {"gssencmode", Type::choice, "", "GSSAPI encryption", 0, 0, kRequirePrefer},
    {"channel_binding", Type::choice, "", "SCRAM channel binding", 0, 0, kRequirePrefer},
};

class Engine final : public driver::Engine {
 public:
  std::string_view name() const noexcept override { return "postgres"; }
  std::span<const std::string_view> aliases() const noexcept override { return kAliases; }
  const Grammar& grammar() const noexcept override { return postgres::grammar(); }
  driver::Capabilities capabilities() const noexcept override {
    driver::Capabilities c;
    c.returning = true;
    c.pipelining = true;
    c.transactional_ddl = true;
    c.two_phase_commit = true;
    c.replication = true;
    return c;
  }
  std::span<const driver::OptionSpec> options() const noexcept override { return kOptions; }
  bool available() const noexcept override { return PLEXUS_ENGINE_ENABLED; }

  void validate(const ConnectionConfig& cfg, const driver::Options& o) const override {
    driver::Engine::validate(cfg, o);
    // ssl = false must mean no TLS: an sslmode that asks for TLS contradicts it.
    if (o.given("ssl") && o.given("sslmode")) {
      const std::string& mode = o.text("sslmode");
      const bool tls = mode != "disable" && mode != "allow" && mode != "prefer";
      if (tls != o.flag("ssl"))
        throw ConfigError(cfg.where("sslmode") + ": sslmode = '" + mode + "' contradicts ssl = " +
                          (o.flag("ssl") ? "true" : "false") + "; keep one of them");
    }
  }

  std::optional<driver::ConsoleCommand> console(const ConnectionConfig& cfg, const Endpoint* host) const override {
    driver::ConsoleCommand c{{"psql"}, {}, "postgresql-client"};
    if (host && !host->socket.empty()) c.argv.insert(c.argv.end(), {"-h", host->socket});
    else if (host) c.argv.insert(c.argv.end(), {"-h", host->host});
    if (host && host->port) c.argv.insert(c.argv.end(), {"-p", std::to_string(host->port)});
    if (!cfg.username.empty()) c.argv.insert(c.argv.end(), {"-U", cfg.username});
    if (!cfg.database.empty()) c.argv.insert(c.argv.end(), {"-d", cfg.database});
    if (!cfg.password.empty()) c.env.emplace_back("PGPASSWORD", cfg.password);
    if (auto mode = cfg.option("sslmode")) c.env.emplace_back("PGSSLMODE", *mode);
    if (auto ca = cfg.option("sslrootcert")) c.env.emplace_back("PGSSLROOTCERT", *ca);
    return c;
  }

  // Tables of the current schema: the planner's estimate (reltuples, -1 before the first
  // ANALYZE, then the statistics' live-tuple count) and the size with indexes and TOAST.
  std::optional<driver::CatalogQueries> catalog() const override {
    return driver::CatalogQueries{
        "SELECT c.relname AS name,"
        " COALESCE(CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END, s.n_live_tup) AS rows,"
        " pg_total_relation_size(c.oid) AS bytes"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() ORDER BY c.relname",
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,"
        " pg_get_expr(d.adbin, d.adrelid) AS default_value,"
        " EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary"
        " AND a.attnum = ANY (i.indkey)) AS primary_key"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        "SELECT c.relname AS name,"
        " (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true), ', ' ORDER BY k)"
        " FROM generate_series(1, i.indnatts) k) AS columns,"
        " i.indisunique AS is_unique, i.indisprimary AS is_primary"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = to_regclass(quote_ident($1)) ORDER BY c.relname",
        false,
        "SELECT a.attname AS name, CASE WHEN a.attcollation = 0 THEN NULL"
        " WHEN co.collname = 'default' THEN (SELECT datcollate FROM pg_database WHERE datname = current_database())"
        " ELSE co.collname END AS collation"
        " FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation"
        " WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped"};
  }

  // Text orders by its bytes under C, POSIX and ucs_basic (and C.UTF-8:
  // code points, which is byte order in UTF-8); LIKE always tells case apart.
  driver::TextRules text_rules(std::string_view collation) const override {
    const auto is = [&](std::string_view c) {
      return collation.size() == c.size() && std::equal(c.begin(), c.end(), collation.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
             });
    };
    const bool binary = collation.empty() || is("C") || is("POSIX") || is("ucs_basic") || is("C.UTF-8") || is("C.utf8");
    return {binary, true};
  }

  std::unique_ptr<driver::Session> connect(const driver::Target& t) const override {
#if PLEXUS_ENGINE_ENABLED
    return std::make_unique<Session>(t);
#else
    not_in_this_build(t, "libpq-dev");
#endif
  }
  std::unique_ptr<driver::PendingSession> connect_start(const driver::Target& t) const override {
#if PLEXUS_ENGINE_ENABLED
    return std::make_unique<PendingSession>(t);
#else
    not_in_this_build(t, "libpq-dev");
#endif
  }
};

}  // namespace
}  // namespace plexus::engine::postgres

namespace plexus::driver {

const Engine& postgres_engine() {
  static const engine::postgres::Engine e;
  return e;
}

}  // namespace plexus::driver

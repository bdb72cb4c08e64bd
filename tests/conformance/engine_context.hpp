// What the conformance suite needs to know about each engine: where it is
// (from the environment scripts/servers exports) and the few bits of SQL that
// no two engines spell alike. The tests themselves are written once.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "plexus/plexus.hpp"

namespace plexus::test {

struct EngineContext {
  std::string name;         ///< test parameter: sqlite, postgres, pgbouncer, mysql
  std::string url_env;      ///< environment variable with the primary's URL
  std::string replica_env;  ///< environment variable with a read-only replica's URL
  // Column types.
  std::string bigint = "BIGINT", real = "DOUBLE PRECISION", text = "VARCHAR(200)", long_text = "TEXT", blob = "BYTEA",
              boolean = "BOOLEAN", date = "DATE", time = "TIME", timestamp = "TIMESTAMP";
  std::string own_session_id;  ///< SQL returning this session's server id
  std::string kill_session;    ///< SQL killing session ? (from another session)
  /// SQL answering whether this session is encrypted ("" when TLS cannot be tested here).
  std::string tls_in_use;
  bool server_offers_tls = false;  ///< the test server accepts TLS (scripts/servers sets it up)
  /// Environment variable with the URL of a server of this engine that offers no TLS.
  std::string plain_server_env;
  /// Statements that return rows, with the fewest rows each must return.
  std::vector<std::pair<std::string, std::size_t>> late_described;
  /// A statement that sleeps 30 s, and SQL counting such statements running on the server.
  std::string long_sleep, running_statements;
  /// Whether execute_script() is all or nothing (transactional DDL).
  bool atomic_scripts = true;
  /// A statement that runs for several seconds.
  std::string slow_sql = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 2000000000) "
                         "SELECT count(*) FROM c";
};

inline EngineContext context_for(const std::string& name) {
  EngineContext c;
  c.name = name;
  if (name == "sqlite") {
    c.real = "REAL";
    c.blob = "BLOB";
    c.timestamp = "TIMESTAMP";
  } else if (name == "postgres" || name == "pgbouncer") {
    c.url_env = name == "postgres" ? "PLEXUS_TEST_PG_URL" : "PLEXUS_TEST_PGBOUNCER_URL";
    c.replica_env = name == "postgres" ? "PLEXUS_TEST_PG_REPLICA_URL" : "PLEXUS_TEST_PGBOUNCER_REPLICA_URL";
    c.timestamp = "TIMESTAMP(6)";
    c.own_session_id = "SELECT pg_backend_pid()";
    c.kill_session = "SELECT pg_terminate_backend(CAST(? AS INTEGER))";
    c.slow_sql = "SELECT pg_sleep(10)";
    if (name == "postgres") {
      c.tls_in_use = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
      c.server_offers_tls = true;
      c.plain_server_env = "PLEXUS_TEST_PGBOUNCER_URL";  // pgbouncer takes no TLS from clients
    }
    c.long_sleep = "SELECT pg_sleep(30)";
    c.running_statements =
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'";
  } else if (name == "mysql") {
    c.url_env = "PLEXUS_TEST_MYSQL_URL";
    c.replica_env = "PLEXUS_TEST_MYSQL_REPLICA_URL";
    c.real = "DOUBLE";
    c.blob = "LONGBLOB";
    c.long_text = "LONGTEXT";
    c.time = "TIME(6)";
    c.timestamp = "DATETIME(6)";
    c.own_session_id = "SELECT CONNECTION_ID()";
    c.kill_session = "KILL CONNECTION ?";
    c.slow_sql = "SELECT SLEEP(10)";
    c.tls_in_use = "SELECT VARIABLE_VALUE <> '' FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_CIPHER'";
    c.server_offers_tls = true;
    c.plain_server_env = "PLEXUS_TEST_MYSQL_REPLICA_URL";  // the replica offers no TLS
    c.late_described = {{"SHOW PROCESSLIST", 1}, {"SHOW FULL PROCESSLIST", 1}, {"SHOW ENGINES", 1}, {"SHOW WARNINGS", 0}};
    c.long_sleep = "SELECT SLEEP(30)";
    c.running_statements = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(30)%'";
    c.atomic_scripts = false;
  }
  return c;
}

inline std::string env_or_empty(const std::string& var) {
  if (var.empty()) return {};
  const char* v = std::getenv(var.c_str());
  return v ? v : "";
}

}  // namespace plexus::test

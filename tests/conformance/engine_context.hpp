// What the conformance suite needs to know about each engine: where it is
// (from the environment scripts/servers exports) and the few bits of SQL that
// no two engines spell alike. The tests themselves are written once.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

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
  }
  return c;
}

inline std::string env_or_empty(const std::string& var) {
  if (var.empty()) return {};
  const char* v = std::getenv(var.c_str());
  return v ? v : "";
}

}  // namespace plexus::test

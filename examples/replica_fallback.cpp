// The seed's ResilientController: read from the primary, fall back to a
// replica when the primary fails. Plexus does the walk itself for reads (a
// read whose replica fails moves on); this shows the seed's explicit form too:
// the primary here is down (nothing listens on its port), the replica answers.
//   replica_fallback [REPLICA_URL]   (default: $PLEXUS_TEST_PG_REPLICA_URL)
#include <cstdlib>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  const char* replica = argc > 1 ? argv[1] : std::getenv("PLEXUS_TEST_PG_REPLICA_URL");
  if (!replica) {
    std::cerr << "needs a replica (scripts/servers start; source /tmp/plx/env)\n";
    return 77;
  }
  auto replica_cfg = parse_url(replica);
  auto cfg = replica_cfg;
  cfg.hosts = {parse_url("postgresql://x@127.0.0.1:1/x").hosts.at(0)};  // the primary: down
  cfg.read_hosts = replica_cfg.hosts;
  cfg.options["connect_timeout"] = "2";
  DatabaseConfig config;
  config.add("users_db", cfg);
  Database db(config);
  auto& users = db.connection("users_db");

  // getUserResilient: try the primary first, then the replica.
  std::string source;
  Result user;
  try {
    user = users.on_primary().query("SELECT 1 AS id, 'Ada' AS name", {}, Intent::read);
    source = "primary";
  } catch (const Error& e) {
    std::cout << "primary failed (" << (e.is_connection_error() ? "connection refused" : "other") << " on " << e.connection()
              << "), trying the replica\n";
    user = users.on_replica().query("SELECT 1 AS id, 'Ada' AS name", {}, Intent::read);
    source = "replica";
  }
  std::cout << "user " << user[0]["name"].to_string() << " from the " << source << "\n";

  // Plexus's own routing: a read goes to the replica without the try/catch;
  // a write has nowhere else to go and fails naming the connection.
  auto read = users.query("SELECT 2 AS n", {}, Intent::read);
  std::cout << "plain read: " << read[0][0].to_string() << "\n";
  try {
    users.execute("CREATE TEMP TABLE t (x INT)");
  } catch (const Error& e) {
    std::cout << "write refused: " << (e.is_connection_error() ? "primary unreachable" : "other") << "\n";
  }
  return source == "replica" ? 0 : 1;
}

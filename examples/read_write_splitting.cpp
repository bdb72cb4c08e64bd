// Read/write splitting over a real primary and replica: reads on the replica,
// writes on the primary, read-your-writes per unit of work, causal reads, and
// the route of every query. Usage:
//   read_write_splitting [PRIMARY_URL REPLICA_URL]
// (defaults: $PLEXUS_TEST_PG_URL and $PLEXUS_TEST_PG_REPLICA_URL from scripts/servers)
#include <cstdlib>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  const char* primary = argc > 2 ? argv[1] : std::getenv("PLEXUS_TEST_PG_URL");
  const char* replica = argc > 2 ? argv[2] : std::getenv("PLEXUS_TEST_PG_REPLICA_URL");
  if (!primary || !replica) {
    std::cerr << "give PRIMARY_URL REPLICA_URL, or run `scripts/servers start` and source /tmp/plx/env\n";
    return 77;  // skipped
  }

  DatabaseConfig config;
  auto& app = config.add("app", primary);
  app.read_hosts = parse_url(replica).hosts;  // in TOML: read_hosts = ["127.0.0.1:25433"]
  app.load_balance = "round_robin";
  Database db(config);

  db.on_after_query([](const QueryEvent& e) {
    std::cout << "  [" << e.connection << " " << e.role << " " << e.host << " | " << e.route << "] " << e.sql << "\n";
  });

  auto& conn = db.connection("app");
  conn.execute("CREATE TABLE IF NOT EXISTS rw_example (id BIGSERIAL PRIMARY KEY, note TEXT)");

  std::cout << "a plain read goes to the replica:\n";
  (void)conn.select("SELECT pg_is_in_recovery() AS on_replica");

  std::cout << "a unit of work (a request, a job) reads its own writes:\n";
  UnitOfWork request(Consistency::causal);
  auto scoped = conn.with(request);
  scoped.execute("INSERT INTO rw_example (note) VALUES (?)", {"hello"});
  auto n = scoped.scalar("SELECT count(*) FROM rw_example WHERE note = ?", {"hello"}).as<std::int64_t>();
  std::cout << "  it sees " << n << " row(s) right after writing\n";

  std::cout << "forcing a side:\n";
  (void)conn.on_primary().select("SELECT 1");

  for (const auto& h : conn.health().hosts)
    std::cout << h.role << " " << h.host << (h.reachable ? " up" : " DOWN")
              << (h.lag ? " lag " + std::to_string(h.lag->count()) + " ms" : std::string()) << "\n";
  conn.execute("DROP TABLE rw_example");
  return n >= 1 ? 0 : 1;
}

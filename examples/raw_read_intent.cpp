// The seed's PerformanceController: raw SQL with an explicit read intent
// (its `isRead = true`) runs on a read replica; without it, on the primary.
// Uses the test servers (scripts/servers): a PostgreSQL primary and replica.
//   raw_read_intent [PRIMARY_URL REPLICA_HOST:PORT]
#include <cstdlib>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

int main(int argc, char** argv) {
  const char* primary = argc > 2 ? argv[1] : std::getenv("PLEXUS_TEST_PG_URL");
  const char* replica_url = std::getenv("PLEXUS_TEST_PG_REPLICA_URL");
  if (!primary || (argc <= 2 && !replica_url)) {
    std::cerr << "needs a primary and a replica (scripts/servers start; source /tmp/plx/env)\n";
    return 77;
  }
  auto cfg = parse_url(primary);
  cfg.read_hosts.push_back(argc > 2 ? parse_url(std::string("postgresql://x@") + argv[2] + "/x").hosts.at(0)
                                    : parse_url(replica_url).hosts.at(0));
  DatabaseConfig config;
  config.add("postgresql", cfg);
  Database db(config);
  db.on_after_query([](const QueryEvent& e) { std::cout << "  " << e.role << " " << e.host << ": " << e.route << "\n"; });

  auto& conn = db.connection("postgresql");
  const char* heavy =
      "SELECT date_trunc('day', t) AS date, COUNT(*) AS total FROM generate_series(now() - interval '90 days', now(), "
      "interval '1 hour') t WHERE t >= $1 GROUP BY 1 ORDER BY 1";
  const Value since = Value(std::string("2000-01-01"));
  std::cout << "with read intent:\n";
  auto on_replica = conn.query(heavy, {since}, Intent::read);
  std::cout << "with write intent:\n";
  auto on_primary = conn.query(heavy, {since}, Intent::write);
  std::cout << on_replica.size() << " days from the replica, " << on_primary.size() << " from the primary\n";
  return on_replica.size() == on_primary.size() ? 0 : 1;
}

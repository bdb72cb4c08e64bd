// Adding a read strategy: a Picker chooses the replica a read tries first;
// the router walks on from there if it fails. This one keeps reads on the
// replicas listed with the highest weight as long as any of them can serve
// ("prefer the local zone"), and spreads them in turn there.
#include <cstdlib>
#include <iostream>

#include <plexus/plexus.hpp>

class PreferHeaviest final : public plexus::Picker {
 public:
  std::size_t pick(std::span<const plexus::ReplicaView> candidates) override {
    unsigned best = 0;
    for (const auto& c : candidates) best = std::max(best, c.weight);
    std::vector<std::size_t> local;
    for (std::size_t i = 0; i < candidates.size(); ++i)
      if (candidates[i].weight == best) local.push_back(i);
    return local[m_next++ % local.size()];
  }

 private:
  std::atomic<std::size_t> m_next{0};
};

int main() {
  const char* primary = std::getenv("PLEXUS_TEST_PG_URL");
  const char* replica = std::getenv("PLEXUS_TEST_PG_REPLICA_URL");
  if (!primary || !replica) {
    std::cerr << "needs a primary and a replica: run `scripts/servers start` and source /tmp/plx/env\n";
    return 77;  // skipped
  }
  plexus::DatabaseConfig config;
  auto& app = config.add("app", primary);
  auto local = plexus::parse_url(replica).hosts.front();
  local.weight = 10;  // the nearby replica
  app.read_hosts = {local};
  app.load_balance = "prefer_heaviest";  // in TOML too: load_balance = "prefer_heaviest"
  plexus::Database db(config, {.pickers = {{"prefer_heaviest", [] { return std::make_unique<PreferHeaviest>(); }}}});

  std::string route;
  db.on_after_query([&](const plexus::QueryEvent& e) { route = std::string(e.route) + " on " + std::string(e.host); });
  (void)db.connection("app").select("SELECT 1");
  std::cout << "route: " << route << "\n";
  return route.find("read: prefer_heaviest") == 0 ? 0 : 1;
}

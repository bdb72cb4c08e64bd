// The seed's MultiDbController and ShardedController, called directly (the
// same code serves HTTP in examples/shop-service): createUserWithAnalytics,
// getUserWithOrderStats, getDashboard (three queries at once), globalSearch,
// getUserFromShard, createOrderInShard, and the health check. Runs on SQLite
// files with the service's migrations.
#include <filesystem>
#include <iostream>

#include "shop-service/shop.hpp"

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/controllers";
  const std::filesystem::path migrations = argc > 2 ? argv[2] : "examples/shop-service/migrations";
  std::filesystem::remove_all(dir);
  plexus::DatabaseConfig config;
  auto add = [&](const std::string& name, const std::string& folder) {
    auto c = plexus::sqlite((dir / (name + ".sqlite")).string());
    c.migrations = (migrations / folder).string();
    config.add(name, c);
  };
  add("users_db", "users_db");
  add("orders_db", "orders_db");
  add("analytics", "analytics");
  for (int i = 1; i <= 4; ++i) add("shard_" + std::to_string(i), "shards");
  const std::vector<std::string> members{"shard_1", "shard_2", "shard_3", "shard_4"};
  config.add_shard_group("users_shards", members, "modulo").key = "id";
  config.add_shard_group("orders_shards", members, "modulo").key = "user_id";
  plexus::Database db(config);
  shop::Shop shop(db);
  shop.migrate();

  auto show = [](const char* what, const shop::Reply& r) { std::cout << what << " -> " << r.status << " " << r.body.dump() << "\n"; };
  auto user = shop.create_user({{"name", "Ada Lovelace"}, {"email", "ada@example.com"}});
  show("createUserWithAnalytics", user);
  const auto id = user.body["data"]["id"].get<std::int64_t>();
  shop.create_order({{"user_id", id}, {"total_amount", 42.5}});
  show("getUserWithOrderStats", shop.user_with_order_stats(id));
  show("getDashboard", shop.dashboard());
  show("globalSearch", shop.search("Lovelace"));
  show("globalSearch (too short)", shop.search("Lo"));
  shop.create_shard_user({{"id", 6}, {"name", "Frances"}, {"email", "frances@example.com"}});
  show("getUserFromShard", shop.shard_user(6));
  show("createOrderInShard", shop.create_shard_order({{"user_id", 6}, {"total_amount", 9.5}}));
  show("health", shop.health());
  return 0;
}

// The seed's ShardRouter and its sharded controllers, with shard groups:
// users on 4 shards (the seed's userId % 4), orders on 8 shards by user_id so
// a user's orders live together, the dashboard's Promise.all, a merged
// top-N, a routing preview, and a refusal instead of a wrong answer.
// Runs on SQLite files (one per shard) in the directory given (default: .).
#include <filesystem>
#include <iostream>
#include <string>

#include <plexus/plexus.hpp>

using namespace plexus;

namespace {

// getUserFromShard: GET /users/:id on the user's shard.
void get_user_from_shard(ShardGroup& users, std::int64_t user_id) {
  auto user = users.table("users").where("id", user_id).first();  // one shard: users_shard_(id % 4 + 1)
  if (!user) {
    std::cout << "404 user " << user_id << " not found\n";
    return;
  }
  std::cout << "200 user " << user_id << " (" << user->get<std::string>("name") << ") from "
            << users.shard(user_id).name() << "\n";
}

// createOrderInShard: the seed wrote every order to orders_shard_1 "initially";
// here the order goes straight to the shard owning its user.
std::int64_t create_order_in_shard(ShardGroup& orders, std::int64_t order_id, std::int64_t user_id, double total) {
  orders.table("orders").insert({{"id", order_id}, {"user_id", user_id}, {"total_amount", total}});
  std::cout << "201 order " << order_id << " for user " << user_id << " on " << orders.shard(user_id).name() << "\n";
  return order_id;
}

// getUserWithOrderStats: the user from its shard, the stats from the orders shard of that user.
void get_user_with_order_stats(ShardGroup& users, ShardGroup& orders, std::int64_t user_id) {
  auto user = users.table("users").where("id", user_id).first();
  auto stats = orders.table("orders")
                   .select({raw("COUNT(*) AS total_orders"), raw("SUM(total_amount) AS total_spent"),
                            raw("AVG(total_amount) AS avg_order_value")})
                   .where("user_id", user_id)
                   .first();
  std::cout << "user " << user->get<std::string>("name") << ": " << stats->get<std::int64_t>("total_orders")
            << " orders, spent " << stats->row()[1].to_string() << ", average " << stats->row()[2].to_string() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
  std::filesystem::create_directories(dir);
  DatabaseConfig config;
  std::vector<std::string> user_shards, order_shards;
  for (int i = 1; i <= 4; ++i) user_shards.push_back("users_shard_" + std::to_string(i));
  for (int i = 1; i <= 8; ++i) order_shards.push_back("orders_shard_" + std::to_string(i));
  for (const auto& name : user_shards) {
    std::filesystem::remove(dir / (name + ".sqlite"));
    config.add(name, sqlite((dir / (name + ".sqlite")).string()));
  }
  for (const auto& name : order_shards) {
    std::filesystem::remove(dir / (name + ".sqlite"));
    config.add(name, sqlite((dir / (name + ".sqlite")).string()));
  }
  // The seed's ShardRouter, as configuration.
  config.add_shard_group("users_shards", user_shards, "modulo").key = "id";
  config.add_shard_group("orders_shards", order_shards, "modulo").key = "user_id";
  Database db(config);
  auto& users = db.shards("users_shards");
  auto& orders = db.shards("orders_shards");
  users.every_shard().execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT)");
  orders.every_shard().execute(
      "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, total_amount REAL NOT NULL)");

  const char* names[] = {"Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Niklaus", "Radia"};
  for (std::int64_t id = 1; id <= 8; ++id)
    users.table("users").insert({{"id", id}, {"name", names[id - 1]}, {"email", std::string(names[id - 1]) + "@example.com"}});
  std::int64_t next_order = 1;  // ids unique across shards: the application's (or a UUID)
  for (std::int64_t user = 1; user <= 8; ++user)
    for (int k = 0; k < static_cast<int>(user % 3) + 1; ++k)
      create_order_in_shard(orders, next_order++, user, 10.0 * static_cast<double>(user) + k);

  get_user_from_shard(users, 6);
  get_user_from_shard(users, 42);
  get_user_with_order_stats(users, orders, 5);

  // The dashboard's Promise.all: three reads at once, two of them over every shard.
  auto [user_count, top_orders, revenue] = db.concurrently(
      [&] { return users.table("users").count(); },
      [&] { return orders.table("orders").select({"id", "user_id", "total_amount"}).order_by_desc("total_amount").limit(3).get(); },
      [&] { return orders.table("orders").sum("total_amount"); });
  std::cout << "dashboard: " << user_count << " users, revenue " << revenue.to_string() << ", top orders:";
  for (auto row : top_orders) std::cout << " #" << row[0].to_string() << " (" << row[2].to_string() << ")";
  std::cout << "\n";

  // What a query would do, before running it.
  std::cout << orders.preview(orders.table("orders").where("total_amount", ">", 50).order_by("total_amount").limit(2)).to_string();

  // Exact or refused: distinct users across order shards would be counted twice… except that
  // user_id is the shard key here, so each user's orders are on one shard and this is exact.
  auto distinct = orders.table("orders").select({raw("COUNT(DISTINCT user_id) AS buyers")}).get();
  std::cout << "buyers: " << distinct[0][0].to_string() << "\n";
  try {
    (void)orders.table("orders").select({raw("COUNT(DISTINCT total_amount) AS prices")}).get();
  } catch (const UsageError& e) {
    std::cout << "refused: COUNT(DISTINCT total_amount) across shards\n";
  }
  return 0;
}

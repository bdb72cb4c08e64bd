// The objection/knex seed: two models, each bound to its own database
// (objection's Model.bindKnex(knex)), and every query shown with the
// connection that ran it (the seed checked with SHOW PROCESSLIST).
#include <filesystem>
#include <iostream>

#include <plexus/plexus.hpp>

using namespace plexus;

struct Product {
  std::int64_t id = 0;
  std::string name;
  static constexpr auto schema = plexus::schema("products", col<&Product::id>("id", primary_key), col<&Product::name>("name"));
};

struct Category {
  std::int64_t id = 0;
  std::string title;
  static constexpr auto schema = plexus::schema("categories", col<&Category::id>("id", primary_key), col<&Category::title>("title"));
};

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : "var/bind_models";
  std::filesystem::remove_all(dir);
  DatabaseConfig config;  // the seed's cnDbOne and cnDbTwo
  config.add("db_one", sqlite((dir / "db_one.sqlite").string()));
  config.add("db_two", sqlite((dir / "db_two.sqlite").string()));
  Database db(config);
  db.on_after_query([](const QueryEvent& e) { std::cout << "  [" << e.connection << "] " << e.sql << "\n"; });
  db.connection("db_one").execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)");
  db.connection("db_two").execute("CREATE TABLE categories (id INTEGER PRIMARY KEY, title TEXT)");

  // The schemas name no connection: bind each model to one, as bindKnex does.
  auto products = db.model<Product>().bind("db_one");
  auto categories = db.model<Category>().bind("db_two");
  products.create({{"name", "Keyboard"}});
  categories.create({{"title", "Peripherals"}});

  // select * from products (db_one); select * from categories (db_two)
  const auto all_products = products.all();
  const auto all_categories = categories.all();
  std::cout << all_products.size() << " product(s) from " << products.connection_name() << ", " << all_categories.size()
            << " categor(ies) from " << categories.connection_name() << "\n";

  // Each database has its own pool: sessions opened per connection.
  for (const auto& h : db.health())
    std::cout << h.name << ": " << h.hosts.at(0).pool.open << " session(s) open\n";
  return all_products.size() == 1 && all_categories.size() == 1 ? 0 : 1;
}

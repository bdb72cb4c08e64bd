// `plexus demo`: the objection.js post's scenario. Product is bound to db_one,
// Category to db_two (objection's bindKnex); every query prints the database
// file that served it and how long it took — our answer to the post's
// SHOW PROCESSLIST.
#include "demo.hpp"

#include <ostream>

#include <fmt/format.h>

#include "output.hpp"
#include "plexus/plexus.hpp"

namespace plexus::cli {
namespace {

// models/Product.js and models/Category.js: no connection in the schema.
struct Product {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
  static constexpr auto schema = plexus::schema("products", col<&Product::id>("id", primary_key),
                                                col<&Product::name>("name"), col<&Product::price>("price"));
};

struct Category {
  std::int64_t id = 0;
  std::string name;
  static constexpr auto schema =
      plexus::schema("categories", col<&Category::id>("id", primary_key), col<&Category::name>("name"));
};

}  // namespace

int run_demo(std::ostream& out, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (const char* f : {"db_one.sqlite", "db_two.sqlite"}) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(dir / (std::string(f) + suffix));
  }

  DatabaseConfig cfg;
  cfg.add("db_one", sqlite((dir / "db_one.sqlite").string()));
  cfg.add("db_two", sqlite((dir / "db_two.sqlite").string()));
  Database db(cfg);

  db.on_after_query([&out](const QueryEvent& e) {
    out << fmt::format("  [{} → {}] {:.3f} ms  {}\n", e.connection, e.host,
                       std::chrono::duration<double, std::milli>(e.duration).count(), e.sql);
  });

  out << "Plexus demo: two databases, each model bound to the connection that owns its table\n\n";
  out << "Setting up db_one (products) and db_two (categories):\n";
  db.connection("db_one").execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL)");
  db.connection("db_two").execute("CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");

  auto ProductModel = db.model<Product>().bind("db_one");    // ProductModel.bindKnex(cnDbOne)
  auto CategoryModel = db.model<Category>().bind("db_two");  // CategoryModel.bindKnex(cnDbTwo)

  db.connection("db_one").transaction([](Transaction& tx) {
    tx.table("products").insert_many({{{"name", "Keyboard"}, {"price", 49.9}},
                                      {{"name", "Monitor"}, {"price", 189.0}},
                                      {{"name", "Mouse"}, {"price", 19.5}}});
  });
  for (const char* name : {"Peripherals", "Displays"}) CategoryModel.create({{"name", name}});

  out << "\nProduct.query()  -- bound to db_one\n";
  Result products = Result(Columns({"id", "name", "price"}));
  for (const auto& p : ProductModel.query().order_by("id").get()) {
    Value* row = products.append_row();
    row[0] = p.id;
    row[1] = p.name;
    row[2] = p.price;
  }
  print_table(out, products);

  out << "\nCategory.query()  -- bound to db_two\n";
  Result categories = Result(Columns({"id", "name"}));
  for (const auto& c : CategoryModel.query().order_by("id").get()) {
    Value* row = categories.append_row();
    row[0] = c.id;
    row[1] = c.name;
  }
  print_table(out, categories);

  out << "\nConnections (our SHOW PROCESSLIST):\n";
  for (const auto& name : db.connection_names()) {
    auto& c = db.connection(name);
    auto st = c.pool_stats();
    out << fmt::format("  {:<7} {} session(s) open to {}\n", name, st.open, c.health().hosts.front().host);
  }
  return 0;
}

}  // namespace plexus::cli

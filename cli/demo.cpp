// `plexus demo`: the objection.js post's scenario. Product is bound to db_one,
// Category to db_two; every query prints the database file that served it and
// how long it took — our answer to the post's SHOW PROCESSLIST.
#include "demo.hpp"

#include <ostream>

#include <fmt/format.h>

#include "output.hpp"
#include "plexus/plexus.hpp"

namespace plexus::cli {
namespace {

/// A table bound to the connection that owns it (what bindKnex does for a model).
struct BoundTable {
  std::string table;
  Connection& db;
  Result query() { return db.select("SELECT * FROM " + table + " ORDER BY id"); }
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
  cfg.default_connection = "db_one";
  Database db(cfg);

  db.on_after_query([&out](const QueryEvent& e) {
    out << fmt::format("  [{} → {}] {:.3f} ms  {}\n", e.connection, e.host,
                       std::chrono::duration<double, std::milli>(e.duration).count(), e.sql);
  });

  out << "Plexus demo: two databases, each table bound to the connection that owns it\n\n";
  out << "Setting up db_one (products) and db_two (categories):\n";
  Connection& db_one = db.connection("db_one");
  Connection& db_two = db.connection("db_two");
  db_one.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL NOT NULL)");
  db_two.execute("CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");

  db_one.transaction([](Transaction& tx) {
    for (auto [name, price] : {std::pair{"Keyboard", 49.9}, {"Monitor", 189.0}, {"Mouse", 19.5}})
      tx.execute("INSERT INTO products (name, price) VALUES (?, ?)", {name, price});
  });
  for (const char* name : {"Peripherals", "Displays"})
    db_two.execute("INSERT INTO categories (name) VALUES (?)", {name});

  BoundTable Product{"products", db_one};   // ProductModel.bindKnex(cnDbOne)
  BoundTable Category{"categories", db_two};  // CategoryModel.bindKnex(cnDbTwo)

  out << "\nProduct.query()  -- bound to db_one\n";
  print_table(out, Product.query());
  out << "\nCategory.query()  -- bound to db_two\n";
  print_table(out, Category.query());

  out << "\nConnections (our SHOW PROCESSLIST):\n";
  for (const auto& name : db.connection_names()) {
    auto& c = db.connection(name);
    auto st = c.pool_stats();
    out << fmt::format("  {:<7} {} session(s) open to {}\n", name, st.open, c.health().hosts.front().host);
  }
  return 0;
}

}  // namespace plexus::cli

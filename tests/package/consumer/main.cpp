#include <iostream>

#include <plexus/plexus.hpp>

int main() {
  plexus::DatabaseConfig cfg;
  cfg.add("mem", plexus::sqlite(":memory:"));
  plexus::Database db(cfg);
  auto v = db.connection("mem").scalar("SELECT ? * 2", {21}).as<int>();
  std::cout << "consumer: " << v << " from memory\n";
  return v == 42 ? 0 : 1;
}

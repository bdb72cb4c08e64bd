// The same work done with each engine's C API directly: the yardstick every
// Plexus figure is divided by.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bench {

struct Item {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
};

class RawDriver {
 public:
  virtual ~RawDriver() = default;
  /// SELECT id, name, price FROM bench_items WHERE id = ? (prepared once).
  virtual Item get(std::int64_t id) = 0;
  /// Every row into structs.
  virtual std::vector<Item> scan() = 0;
  /// n one-row INSERTs into bench_insert in one transaction.
  virtual void insert_loop(std::size_t n) = 0;
  /// Runs SQL without results (set-up of a private :memory: database).
  virtual void exec(const std::string& sql) = 0;
};

/// `target`: a SQLite path, or a postgresql:// / mysql:// URL.
std::unique_ptr<RawDriver> make_raw(const std::string& engine, const std::string& target);

}  // namespace bench

// The same work done with each engine's C API directly: the yardstick every
// Plexus figure is divided by.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
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
  /// Point selects for many keys; the best the API offers (libpq: pipeline mode).
  virtual std::vector<Item> get_many(std::span<const std::int64_t> ids) {
    std::vector<Item> out;
    out.reserve(ids.size());
    for (auto id : ids) out.push_back(get(id));
    return out;
  }
  /// UPDATE bench_items SET price = ? WHERE id = ? (W4's writes).
  virtual void update(std::int64_t id, double price) = 0;
  /// Whether get_many is more than a loop over get.
  [[nodiscard]] virtual bool batches() const { return false; }
};

/// `target`: a SQLite path, or a postgresql:// / mysql:// URL.
std::unique_ptr<RawDriver> make_raw(const std::string& engine, const std::string& target);
/// SOCI doing the same work (nullptr when the build found no SOCI).
std::unique_ptr<RawDriver> make_soci(const std::string& engine, const std::string& target);
/// libpqxx doing the same work on PostgreSQL (nullptr when the build found no libpqxx).
std::unique_ptr<RawDriver> make_pqxx(const std::string& target);
/// libpq connection string for a postgresql:// URL (both sides connect without TLS).
std::string pg_conninfo(const std::string& url);

}  // namespace bench

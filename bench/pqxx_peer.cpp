// libpqxx doing the benchmark's work on PostgreSQL, as its documentation
// shows: prepared statements run through a transaction object per unit of work.
#include <pqxx/pqxx>

#include "raw.hpp"

namespace bench {
namespace {

class PqxxPeer final : public RawDriver {
 public:
  explicit PqxxPeer(const std::string& url) : m_conn(pg_conninfo(url)) {
    m_conn.prepare("get", "SELECT id, name, price FROM bench_items WHERE id = $1");
    m_conn.prepare("ins", "INSERT INTO bench_insert (name, price) VALUES ($1, $2)");
    m_conn.prepare("upd", "UPDATE bench_items SET price = $1 WHERE id = $2");
  }
  void exec(const std::string& sql) override {
    pqxx::nontransaction tx(m_conn);
    tx.exec(sql);
  }
  Item get(std::int64_t id) override {
    pqxx::nontransaction tx(m_conn);
    pqxx::result r = tx.exec_prepared("get", id);
    if (r.empty()) return {};
    return Item{r[0][0].as<std::int64_t>(), r[0][1].as<std::string>(), r[0][2].as<double>()};
  }
  std::vector<Item> scan() override {
    pqxx::nontransaction tx(m_conn);
    pqxx::result r = tx.exec("SELECT id, name, price FROM bench_items");
    std::vector<Item> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(Item{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<double>()});
    return out;
  }
  void insert_loop(std::size_t n) override {
    pqxx::work tx(m_conn);
    for (std::size_t i = 0; i < n; ++i) tx.exec_prepared("ins", "item", static_cast<double>(i));
    tx.commit();
  }
  void update(std::int64_t id, double price) override {
    pqxx::nontransaction tx(m_conn);
    tx.exec_prepared("upd", price, id);
  }

 private:
  pqxx::connection m_conn;
};

}  // namespace

std::unique_ptr<RawDriver> make_pqxx(const std::string& target) { return std::make_unique<PqxxPeer>(target); }

}  // namespace bench

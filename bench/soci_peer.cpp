// SOCI doing the benchmark's work, the way its documentation shows: prepared
// statements with into()/use() bound once. In its own file: SOCI's SQLite
// header wraps <sqlite3.h> in a namespace of its own.
#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "plexus/config/config.hpp"
#include "raw.hpp"

namespace bench {
namespace {

class SociPeer final : public RawDriver {
 public:
  SociPeer(const std::string& engine, const std::string& target) {
    if (engine.starts_with("sqlite")) {
      m_sql.open(soci::sqlite3, "db=" + target + " timeout=5");
    } else if (engine == "postgres") {
      m_sql.open(soci::postgresql, pg_conninfo(target));
    } else {
      auto c = plexus::parse_url(target);
      m_sql.open(soci::mysql, "host=" + c.hosts.at(0).host + " port=" + std::to_string(c.hosts.at(0).port) +
                                  " db=" + c.database + " user=" + c.username + " password='" + c.password + "'");
    }
  }
  void exec(const std::string& sql) override { m_sql << sql; }
  Item get(std::int64_t id) override {
    if (!m_get) {
      m_get = std::make_unique<soci::statement>((m_sql.prepare << "SELECT id, name, price FROM bench_items WHERE id = :id",
                                                 soci::into(m_row.id), soci::into(m_row.name), soci::into(m_row.price),
                                                 soci::use(m_key)));
    }
    m_key = static_cast<long long>(id);
    m_get->execute(true);
    return Item{m_row.id, m_row.name, m_row.price};
  }
  std::vector<Item> scan() override {
    std::vector<Item> out;
    Row r;
    soci::statement st = (m_sql.prepare << "SELECT id, name, price FROM bench_items", soci::into(r.id),
                          soci::into(r.name), soci::into(r.price));
    st.execute();
    while (st.fetch()) out.push_back(Item{r.id, r.name, r.price});
    return out;
  }
  void insert_loop(std::size_t n) override {
    // A fetched-once statement keeps SQLite's read snapshot open, which would
    // make this write fail as stale (SQLITE_BUSY_SNAPSHOT): finish it first.
    m_get.reset();
    soci::transaction tr(m_sql);
    std::string name = "item";
    double price = 0;
    soci::statement st = (m_sql.prepare << "INSERT INTO bench_insert (name, price) VALUES (:n, :p)", soci::use(name),
                          soci::use(price));
    for (std::size_t i = 0; i < n; ++i) {
      price = static_cast<double>(i);
      st.execute(true);
    }
    tr.commit();
  }
  void update(std::int64_t id, double price) override {
    m_get.reset();
    long long key = id;
    m_sql << "UPDATE bench_items SET price = :p WHERE id = :id", soci::use(price), soci::use(key);
  }

 private:
  struct Row {
    long long id = 0;
    std::string name;
    double price = 0;
  };
  soci::session m_sql;
  std::unique_ptr<soci::statement> m_get;
  Row m_row;
  long long m_key = 0;
};

}  // namespace

std::unique_ptr<RawDriver> make_soci(const std::string& engine, const std::string& target) {
  return std::make_unique<SociPeer>(engine, target);
}

}  // namespace bench

#include "raw.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>

#include "plexus/config/config.hpp"

namespace bench {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("raw driver: " + what); }

class RawSqlite final : public RawDriver {
 public:
  explicit RawSqlite(const std::string& path) {
    if (sqlite3_open(path.c_str(), &m_db) != SQLITE_OK) fail(sqlite3_errmsg(m_db));
    sqlite3_busy_timeout(m_db, 5000);
    sqlite3_exec(m_db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
  }
  /// Statements are prepared on first use: a :memory: database gets its tables after construction.
  void ensure() {
    if (m_get) return;
    prepare("SELECT id, name, price FROM bench_items WHERE id = ?", &m_get);
    prepare("INSERT INTO bench_insert (name, price) VALUES (?, ?)", &m_ins);
    prepare("UPDATE bench_items SET price = ? WHERE id = ?", &m_upd);
  }
  void update(std::int64_t id, double price) override {
    ensure();
    sqlite3_bind_double(m_upd, 1, price);
    sqlite3_bind_int64(m_upd, 2, id);
    int rc = sqlite3_step(m_upd);
    sqlite3_reset(m_upd);
    if (rc != SQLITE_DONE) fail(sqlite3_errmsg(m_db));
  }
  void exec(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string e = err ? err : "?";
      sqlite3_free(err);
      fail(e);
    }
  }
  ~RawSqlite() override {
    sqlite3_finalize(m_get);
    sqlite3_finalize(m_ins);
    sqlite3_finalize(m_upd);
    sqlite3_close(m_db);
  }
  Item get(std::int64_t id) override {
    ensure();
    sqlite3_bind_int64(m_get, 1, id);
    Item it;
    if (sqlite3_step(m_get) == SQLITE_ROW) it = row(m_get);
    sqlite3_reset(m_get);
    return it;
  }
  std::vector<Item> scan() override {
    sqlite3_stmt* s = nullptr;
    prepare("SELECT id, name, price FROM bench_items", &s);
    std::vector<Item> out;
    while (sqlite3_step(s) == SQLITE_ROW) out.push_back(row(s));
    sqlite3_finalize(s);
    return out;
  }
  void insert_loop(std::size_t n) override {
    ensure();
    sqlite3_exec(m_db, "BEGIN", nullptr, nullptr, nullptr);
    for (std::size_t i = 0; i < n; ++i) {
      sqlite3_bind_text(m_ins, 1, "item", 4, SQLITE_STATIC);
      sqlite3_bind_double(m_ins, 2, static_cast<double>(i));
      if (sqlite3_step(m_ins) != SQLITE_DONE) fail(sqlite3_errmsg(m_db));
      sqlite3_reset(m_ins);
    }
    sqlite3_exec(m_db, "COMMIT", nullptr, nullptr, nullptr);
  }

 private:
  void prepare(const char* sql, sqlite3_stmt** s) {
    if (sqlite3_prepare_v2(m_db, sql, -1, s, nullptr) != SQLITE_OK) fail(sqlite3_errmsg(m_db));
  }
  static Item row(sqlite3_stmt* s) {
    return Item{sqlite3_column_int64(s, 0),
                std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)),
                            static_cast<std::size_t>(sqlite3_column_bytes(s, 1))),
                sqlite3_column_double(s, 2)};
  }
  sqlite3* m_db = nullptr;
  sqlite3_stmt* m_get = nullptr;
  sqlite3_stmt* m_ins = nullptr;
  sqlite3_stmt* m_upd = nullptr;
};

class RawPostgres final : public RawDriver {
 public:
  explicit RawPostgres(const std::string& url) {
    m_conn = PQconnectdb(pg_conninfo(url).c_str());
    if (PQstatus(m_conn) != CONNECTION_OK) fail(PQerrorMessage(m_conn));
    check(PQprepare(m_conn, "get", "SELECT id, name, price FROM bench_items WHERE id = $1", 1, nullptr));
    check(PQprepare(m_conn, "ins", "INSERT INTO bench_insert (name, price) VALUES ($1, $2)", 2, nullptr));
    check(PQprepare(m_conn, "upd", "UPDATE bench_items SET price = $1 WHERE id = $2", 2, nullptr));
  }
  void update(std::int64_t id, double price) override {
    std::string p = std::to_string(price), i = std::to_string(id);
    const char* v[] = {p.c_str(), i.c_str()};
    check(PQexecPrepared(m_conn, "upd", 2, v, nullptr, nullptr, 0));
  }
  bool batches() const override { return true; }
  /// Pipeline mode, in chunks of 128 like Plexus: the best libpq offers.
  std::vector<Item> get_many(std::span<const std::int64_t> ids) override {
    std::vector<Item> out;
    out.reserve(ids.size());
    if (PQenterPipelineMode(m_conn) != 1) fail(PQerrorMessage(m_conn));
    for (std::size_t start = 0; start < ids.size(); start += 128) {
      std::size_t end = std::min(ids.size(), start + 128);
      for (std::size_t i = start; i < end; ++i) {
        char buf[24];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf - 1, ids[i]);
        *p = 0;
        const char* v[] = {buf};
        if (!PQsendQueryPrepared(m_conn, "get", 1, v, nullptr, nullptr, 0)) fail(PQerrorMessage(m_conn));
      }
      PQpipelineSync(m_conn);
      for (std::size_t i = start; i < end; ++i) {
        PGresult* r = PQgetResult(m_conn);
        Item it;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) it = row(r, 0);
        out.push_back(std::move(it));
        PQclear(r);
        PQclear(PQgetResult(m_conn));  // the null after each statement
      }
      PQclear(PQgetResult(m_conn));  // the sync
    }
    PQexitPipelineMode(m_conn);
    return out;
  }
  ~RawPostgres() override { PQfinish(m_conn); }
  void exec(const std::string& sql) override { check(PQexec(m_conn, sql.c_str())); }
  Item get(std::int64_t id) override {
    std::string p = std::to_string(id);
    const char* v[] = {p.c_str()};
    PGresult* r = PQexecPrepared(m_conn, "get", 1, v, nullptr, nullptr, 0);
    Item it;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) it = row(r, 0);
    PQclear(r);
    return it;
  }
  std::vector<Item> scan() override {
    PGresult* r = PQexec(m_conn, "SELECT id, name, price FROM bench_items");
    std::vector<Item> out;
    out.reserve(static_cast<std::size_t>(PQntuples(r)));
    for (int i = 0; i < PQntuples(r); ++i) out.push_back(row(r, i));
    PQclear(r);
    return out;
  }
  void insert_loop(std::size_t n) override {
    check(PQexec(m_conn, "BEGIN"));
    for (std::size_t i = 0; i < n; ++i) {
      std::string price = std::to_string(i);
      const char* v[] = {"item", price.c_str()};
      check(PQexecPrepared(m_conn, "ins", 2, v, nullptr, nullptr, 0));
    }
    check(PQexec(m_conn, "COMMIT"));
  }

 private:
  void check(PGresult* r) {
    auto st = PQresultStatus(r);
    PQclear(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(PQerrorMessage(m_conn));
  }
  static Item row(PGresult* r, int i) {
    return Item{std::strtoll(PQgetvalue(r, i, 0), nullptr, 10),
                std::string(PQgetvalue(r, i, 1), static_cast<std::size_t>(PQgetlength(r, i, 1))),
                std::strtod(PQgetvalue(r, i, 2), nullptr)};
  }
  PGconn* m_conn = nullptr;
};

class RawMysql final : public RawDriver {
 public:
  explicit RawMysql(const std::string& url) {
    auto c = plexus::parse_url(url);
    m_db = mysql_init(nullptr);
    if (!mysql_real_connect(m_db, c.hosts.at(0).host.c_str(), c.username.c_str(), c.password.c_str(),
                            c.database.c_str(), c.hosts.at(0).port, nullptr, 0))
      fail(mysql_error(m_db));
    m_get = prepare("SELECT id, name, price FROM bench_items WHERE id = ?");
    m_ins = prepare("INSERT INTO bench_insert (name, price) VALUES (?, ?)");
    m_upd = prepare("UPDATE bench_items SET price = ? WHERE id = ?");
  }
  void update(std::int64_t id, double price) override {
    MYSQL_BIND p[2]{};
    p[0].buffer_type = MYSQL_TYPE_DOUBLE;
    p[0].buffer = &price;
    p[1].buffer_type = MYSQL_TYPE_LONGLONG;
    p[1].buffer = &id;
    mysql_stmt_bind_param(m_upd, p);
    if (mysql_stmt_execute(m_upd)) fail(mysql_stmt_error(m_upd));
  }
  void exec(const std::string& sql) override {
    if (mysql_query(m_db, sql.c_str())) fail(mysql_error(m_db));
  }
  ~RawMysql() override {
    mysql_stmt_close(m_get);
    mysql_stmt_close(m_ins);
    mysql_stmt_close(m_upd);
    mysql_close(m_db);
  }
  Item get(std::int64_t id) override {
    MYSQL_BIND p{};
    p.buffer_type = MYSQL_TYPE_LONGLONG;
    p.buffer = &id;
    mysql_stmt_bind_param(m_get, &p);
    if (mysql_stmt_execute(m_get)) fail(mysql_stmt_error(m_get));
    Item it = fetch_one(m_get);
    mysql_stmt_free_result(m_get);
    return it;
  }
  std::vector<Item> scan() override {
    MYSQL_STMT* s = prepare("SELECT id, name, price FROM bench_items");
    if (mysql_stmt_execute(s)) fail(mysql_stmt_error(s));
    mysql_stmt_store_result(s);
    std::vector<Item> out;
    out.reserve(mysql_stmt_num_rows(s));
    Binder b(s);
    while (mysql_stmt_fetch(s) == 0) out.push_back(b.item());
    mysql_stmt_close(s);
    return out;
  }
  void insert_loop(std::size_t n) override {
    mysql_query(m_db, "START TRANSACTION");
    MYSQL_BIND p[2]{};
    char name[] = "item";
    unsigned long name_len = 4;
    double price = 0;
    p[0].buffer_type = MYSQL_TYPE_STRING;
    p[0].buffer = name;
    p[0].length = &name_len;
    p[1].buffer_type = MYSQL_TYPE_DOUBLE;
    p[1].buffer = &price;
    mysql_stmt_bind_param(m_ins, p);
    for (std::size_t i = 0; i < n; ++i) {
      price = static_cast<double>(i);
      if (mysql_stmt_execute(m_ins)) fail(mysql_stmt_error(m_ins));
    }
    mysql_query(m_db, "COMMIT");
  }

 private:
  struct Binder {
    explicit Binder(MYSQL_STMT* s) {
      r[0].buffer_type = MYSQL_TYPE_LONGLONG;
      r[0].buffer = &id;
      r[1].buffer_type = MYSQL_TYPE_STRING;
      r[1].buffer = name;
      r[1].buffer_length = sizeof name;
      r[1].length = &name_len;
      r[2].buffer_type = MYSQL_TYPE_DOUBLE;
      r[2].buffer = &price;
      mysql_stmt_bind_result(s, r);
    }
    Item item() const { return Item{id, std::string(name, name_len), price}; }
    MYSQL_BIND r[3]{};
    long long id = 0;
    char name[128]{};
    unsigned long name_len = 0;
    double price = 0;
  };
  Item fetch_one(MYSQL_STMT* s) {
    mysql_stmt_store_result(s);
    Binder b(s);
    Item it;
    if (mysql_stmt_fetch(s) == 0) it = b.item();
    return it;
  }
  MYSQL_STMT* prepare(const char* sql) {
    MYSQL_STMT* s = mysql_stmt_init(m_db);
    if (mysql_stmt_prepare(s, sql, std::strlen(sql))) fail(mysql_stmt_error(s));
    return s;
  }
  MYSQL* m_db = nullptr;
  MYSQL_STMT* m_get = nullptr;
  MYSQL_STMT* m_ins = nullptr;
  MYSQL_STMT* m_upd = nullptr;
};

}  // namespace

std::string pg_conninfo(const std::string& url) {
  auto c = plexus::parse_url(url);
  return "host=" + c.hosts.at(0).host + " port=" + std::to_string(c.hosts.at(0).port) + " dbname=" + c.database +
         " user=" + c.username + " password=" + c.password + " sslmode=disable";
}

std::unique_ptr<RawDriver> make_raw(const std::string& engine, const std::string& target) {
  if (engine.starts_with("sqlite")) return std::make_unique<RawSqlite>(target);
  if (engine == "postgres") return std::make_unique<RawPostgres>(target);
  return std::make_unique<RawMysql>(target);
}

}  // namespace bench

// Peers the build did not find: the benchmark prints their rows as absent.
namespace bench {
#ifndef PLEXUS_BENCH_HAVE_SOCI
std::unique_ptr<RawDriver> make_soci(const std::string&, const std::string&) { return nullptr; }
#endif
#ifndef PLEXUS_BENCH_HAVE_PQXX
std::unique_ptr<RawDriver> make_pqxx(const std::string&) { return nullptr; }
#endif
}  // namespace bench

// The mixed-engine shard groups on the real servers that the blocking and the
// asynchronous shard tests share: "mixed" (PostgreSQL shard instances x2, a
// database of its own on MariaDB, a SQLite file; hash of id), "pgs" and
// "mixed5", and "one" (a SQLite file) for a single-database oracle.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "plexus/plexus.hpp"

namespace plexus::test {

namespace fs = std::filesystem;

inline std::string env(const char* k) {
  const char* v = std::getenv(k);
  return v ? v : "";
}


class ShardServers : public ::testing::Test {
 protected:
  void SetUp() override {
    pg1 = env("PLEXUS_TEST_PG_SHARD1_URL");
    pg2 = env("PLEXUS_TEST_PG_SHARD2_URL");
    my = env("PLEXUS_TEST_MYSQL_URL");
    if (pg1.empty() || pg2.empty() || my.empty()) GTEST_SKIP() << "needs the servers: run ./scripts/test";
    dir = fs::temp_directory_path() / ("plexus_shard_servers_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    {  // MariaDB: a database of its own, as a separate shard would have
      DatabaseConfig c;
      c.add("admin", my);
      Database admin(c);
      admin.connection("admin").execute("CREATE DATABASE IF NOT EXISTS plexus_shard CHARACTER SET utf8mb4");
    }
    DatabaseConfig cfg;
    cfg.add("pg1", pg1);
    cfg.add("pg2", pg2);
    auto& m = cfg.add("my", my);
    m.database = "plexus_shard";
    cfg.add("lite", sqlite((dir / "lite.db").string()));
    cfg.add("one", sqlite((dir / "one.db").string()));
    cfg.add("pg", env("PLEXUS_TEST_PG_URL"));
    auto& g = cfg.add_shard_group("mixed", {"pg1", "pg2", "my", "lite"}, "hash");
    g.key = "id";
    cfg.add_shard_group("pgs", {"pg1", "pg2", "pg"}, "modulo");
    cfg.add_shard_group("mixed5", {"pg1", "pg2", "my", "lite", "pg"}, "hash").key = "id";
    db = std::make_unique<Database>(cfg);
  }
  void TearDown() override {
    if (!db) return;
    for (const char* m : {"pg1", "pg2", "my", "pg"}) {
      try {
        db->connection(m).execute("DROP TABLE IF EXISTS items");
      } catch (...) {
      }
    }
    db.reset();
    fs::remove_all(dir);
  }
  static std::string ddl(const std::string& conn) {
    if (conn == "my")  // text sorted across shards compares by bytes: a binary collation
      return "CREATE TABLE items (id BIGINT PRIMARY KEY, grp VARCHAR(10) COLLATE utf8mb4_bin, cat INT, price DOUBLE, "
             "qty INT NOT NULL, name VARCHAR(20) COLLATE utf8mb4_bin)";
    if (conn.starts_with("pg"))
      return "CREATE TABLE items (id BIGINT PRIMARY KEY, grp VARCHAR(10), cat INTEGER, price DOUBLE PRECISION, "
             "qty INTEGER NOT NULL, name VARCHAR(20))";
    return "CREATE TABLE items (id INTEGER PRIMARY KEY, grp TEXT, cat INTEGER, price REAL, qty INTEGER NOT NULL, name TEXT)";
  }
  std::string pg1, pg2, my;
  fs::path dir;
  std::unique_ptr<Database> db;
};

}  // namespace plexus::test

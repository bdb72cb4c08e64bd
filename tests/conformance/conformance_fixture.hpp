// The conformance fixture: one Database per test on the engine named by the
// test parameter, with a table name unique to the test and the engine.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "engine_context.hpp"

namespace plexus::test {

namespace fs = std::filesystem;

inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// Rows n = 1..count, portable to every engine (no recursion limits), ordered.
inline std::string series(int count, const std::string& extra = "") {
  return "WITH d(x) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 "
         "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9), "
         "s(n) AS (SELECT a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 1 FROM d a, d b, d c, d e, d f) "
         "SELECT n" + extra + " FROM s WHERE n <= " + std::to_string(count) + " ORDER BY n";
}

/// A server on 127.0.0.1 that accepts connections and never answers (a
/// connect then waits for its timeout); closed when it goes.
class SilentServer {
 public:
  SilentServer() : m_fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(m_fd, 8) != 0 ||
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("SilentServer: no listening socket on 127.0.0.1");
    m_port = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(m_fd); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  [[nodiscard]] std::uint16_t port() const noexcept { return m_port; }
  /// `c` pointed at this server, giving up after `timeout_s` seconds.
  [[nodiscard]] ConnectionConfig pointed(ConnectionConfig c, const std::string& timeout_s) const {
    c.hosts.at(0).port = m_port;
    c.options["connect_timeout"] = timeout_s;
    return c;
  }

 private:
  int m_fd;
  std::uint16_t m_port = 0;
};

class Conformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ctx = test::context_for(GetParam());
    if (ctx.name == "sqlite") {
      dir = fs::temp_directory_path() / ("plexus_conf_" + std::to_string(::getpid()));
      fs::create_directories(dir);
      cfg.add("main", sqlite((dir / "main.db").string()));
    } else {
      std::string url = test::env_or_empty(ctx.url_env);
      if (url.empty())
        GTEST_SKIP() << ctx.url_env << " is not set: start the servers with `scripts/servers start` and source "
                     << "/tmp/plx/env, or run ./scripts/test";
      cfg.add("main", url);
    }
    // Models declare these names: the engine under test owns the users, and a
    // SQLite file stands in for a separate analytics database.
    ConnectionConfig users = *cfg.find("main");
    cfg.add("users_db", users);
    if (dir.empty()) {
      dir = fs::temp_directory_path() / ("plexus_conf_" + std::to_string(::getpid()));
      fs::create_directories(dir);
    }
    fs::remove(dir / "analytics.db");
    cfg.add("analytics", sqlite((dir / "analytics.db").string()));
    std::string replica = test::env_or_empty(ctx.replica_env);
    if (!replica.empty()) cfg.add("replica", replica);
    db = std::make_unique<Database>(cfg);
    conn = &db->connection("main");
    // Unique per test and engine: ctest runs tests in parallel against shared servers.
    table = "conf_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (auto& ch : table)
      ch = std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch))) : '_';
    table = table.substr(0, 40) + "_" + ctx.name;
    conn->execute("DROP TABLE IF EXISTS " + table);
  }
  void TearDown() override {
    if (conn) {
      // A fresh Database: hooks the test added may capture the test body's locals.
      db.reset();
      conn = nullptr;
      try {
        Database(cfg).connection("main").execute("DROP TABLE IF EXISTS " + table);
      } catch (...) {
      }
    }
    db.reset();
    if (!dir.empty()) fs::remove_all(dir);
  }

  test::EngineContext ctx;
  DatabaseConfig cfg;
  fs::path dir;
  std::unique_ptr<Database> db;
  Connection* conn = nullptr;
  std::string table;
};

}  // namespace plexus::test

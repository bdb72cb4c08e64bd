// examples/shop-service as a client sees it: the real binary started on
// 127.0.0.1, every endpoint called over HTTP, on SQLite files and on the real
// servers (PostgreSQL primary with its replica, MariaDB, the PostgreSQL shard
// instances, a SQLite shard), with the MariaDB server halted (the endpoints
// that need it answer 503 naming it, the rest keep answering), and 200
// requests at once (no errors; p50/p99 printed).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "plexus/plexus.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

/// The service as a child process; stopped (SIGTERM) when this goes away.
class Service {
 public:
  Service(const std::string& bin, const fs::path& dir, const fs::path& config) {
    const fs::path port_file = dir / "port";
    fs::remove(port_file);
    m_pid = ::fork();
    if (m_pid == 0) {
      ::chdir(dir.c_str());
      const std::string out = (dir / "service.log").string();
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(out.c_str(), "a", stderr);
      const std::string cfg = config.string(), pf = port_file.string();
      ::execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), "--listen", "127.0.0.1:0", "--port-file", pf.c_str(),
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 600 && port == 0; ++i) {
      std::ifstream in(port_file);
      if (!(in >> port)) port = 0;
      int status = 0;
      if (port == 0 && ::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        break;
      }
      if (port == 0) std::this_thread::sleep_for(50ms);
    }
    log_path = dir / "service.log";
  }
  ~Service() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      int status = 0;
      ::waitpid(m_pid, &status, 0);
    }
  }
  [[nodiscard]] std::string log() const {
    std::ifstream in(log_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  int port = 0;
  fs::path log_path;

 private:
  pid_t m_pid = -1;
};

struct Reply {
  int status = 0;
  json body;
};

Reply call(int port, const std::string& method, const std::string& path, const json& body = nullptr) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);
  auto res = method == "GET" ? client.Get(path) : client.Post(path, body.dump(), "application/json");
  if (!res) return {0, json{{"transport_error", httplib::to_string(res.error())}}};
  Reply r{res->status, json::parse(res->body, nullptr, false)};
  return r;
}

std::string source(const std::string& rel) { return (fs::path(PLEXUS_SOURCE_DIR) / rel).string(); }

/// Every endpoint once, with what each must answer. `shard_ids`: ids to place
/// on the users_shards group (one per member, in member order).
void every_endpoint(int port, const std::vector<std::int64_t>& shard_ids) {
  auto created = call(port, "POST", "/users", {{"name", "Ada Lovelace"}, {"email", "ada@example.com"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto ada = created.body["data"]["id"].get<std::int64_t>();
  EXPECT_EQ(call(port, "POST", "/users", {{"name", "Ada Again"}, {"email", "ada@example.com"}}).status, 409);
  EXPECT_EQ(call(port, "POST", "/users", {{"name", "No Email"}}).status, 400);
  for (double amount : {10.0, 20.0, 30.0}) {
    auto o = call(port, "POST", "/orders", {{"user_id", ada}, {"total_amount", amount}});
    ASSERT_EQ(o.status, 201) << o.body;
  }
  auto stats = call(port, "GET", "/users/" + std::to_string(ada));
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(stats.body["data"]["user"]["name"], "Ada Lovelace");
  const auto& os = stats.body["data"]["order_stats"];
  EXPECT_EQ(plexus::Value(os["total_orders"].is_string() ? plexus::Value(os["total_orders"].get<std::string>())
                                                           : plexus::Value(os["total_orders"].get<std::int64_t>()))
                .as<std::int64_t>(),
            3);
  const double spent = os["total_spent"].is_string() ? std::stod(os["total_spent"].get<std::string>()) : os["total_spent"].get<double>();
  EXPECT_DOUBLE_EQ(spent, 60.0);
  EXPECT_EQ(call(port, "GET", "/users/987654321").status, 404);

  auto dash = call(port, "GET", "/dashboard");
  ASSERT_EQ(dash.status, 200) << dash.body;
  EXPECT_GE(dash.body["dashboard"]["user_growth"].size(), 1u);
  bool saw_purchase = false;
  for (const auto& e : dash.body["dashboard"]["top_events"]) saw_purchase = saw_purchase || e["event_type"] == "purchase";
  EXPECT_TRUE(saw_purchase) << dash.body;

  auto search = call(port, "GET", "/search?q=Lovelace");
  ASSERT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(search.body["results"]["users"].size(), 1u) << search.body;
  EXPECT_FALSE(search.body.contains("unavailable"));
  auto by_event = call(port, "GET", "/search?q=purch");
  ASSERT_EQ(by_event.status, 200);
  EXPECT_EQ(by_event.body["results"]["events"].size(), 3u) << by_event.body;
  EXPECT_EQ(call(port, "GET", "/search?q=Ad").status, 400);
  EXPECT_EQ(call(port, "GET", "/search").status, 400);

  for (std::size_t i = 0; i < shard_ids.size(); ++i) {
    const auto id = shard_ids[i];
    auto su = call(port, "POST", "/shards/users", {{"id", id}, {"name", "Shard User " + std::to_string(id)}, {"email", "s@example.com"}});
    ASSERT_EQ(su.status, 201) << su.body;
    EXPECT_EQ(su.body["data"]["shard"], "shard_" + std::to_string(i + 1));
    auto got = call(port, "GET", "/shards/users/" + std::to_string(id));
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(got.body["data"]["name"], "Shard User " + std::to_string(id));
    auto order = call(port, "POST", "/shards/orders", {{"user_id", id}, {"total_amount", 5}});
    ASSERT_EQ(order.status, 201) << order.body;
    EXPECT_EQ(order.body["data"]["shard"], "shard_" + std::to_string(i + 1));
  }
  EXPECT_EQ(call(port, "GET", "/shards/users/4444444").status, 404);

  auto health = call(port, "GET", "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body["status"], "healthy");
}

/// `n` requests at once (a mix of reads and writes); all must succeed. Returns the latencies.
std::vector<double> burst(int port, int n) {
  std::vector<double> ms(n);
  std::vector<int> status(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      const auto t0 = steady_clock::now();
      Reply r;
      switch (i % 5) {
        case 0: r = call(port, "GET", "/users/1"); break;
        case 1: r = call(port, "GET", "/dashboard"); break;
        case 2: r = call(port, "GET", "/search?q=Lovelace"); break;
        case 3: r = call(port, "GET", "/shards/users/1"); break;
        default:
          r = call(port, "POST", "/users", {{"name", "Burst " + std::to_string(i)}, {"email", "burst" + std::to_string(i) + "@example.com"}});
      }
      ms[i] = duration<double, std::milli>(steady_clock::now() - t0).count();
      status[i] = r.status;
      if (r.status >= 300 || r.status == 0) errors[i] = r.body.dump();
    });
  go = true;
  for (auto& t : threads) t.join();
  for (int i = 0; i < n; ++i) EXPECT_TRUE(status[i] == 200 || status[i] == 201) << "request " << i << ": " << status[i] << " " << errors[i];
  std::sort(ms.begin(), ms.end());
  std::cout << n << " concurrent requests: p50 " << ms[n / 2] << " ms, p99 " << ms[n * 99 / 100] << " ms, max "
            << ms.back() << " ms\n";
  return ms;
}

/// The MariaDB primary halted (scripts/servers halt) while this lives, or
/// until resume(): the servers are shared, so it is always resumed.
class HaltedMariaDb {
 public:
  HaltedMariaDb() : m_ok(servers("halt")) {}
  ~HaltedMariaDb() { (void)resume(); }
  HaltedMariaDb(const HaltedMariaDb&) = delete;
  HaltedMariaDb& operator=(const HaltedMariaDb&) = delete;
  [[nodiscard]] bool ok() const noexcept { return m_ok; }
  bool resume() { return !std::exchange(m_ok, false) || servers("resume"); }

 private:
  static bool servers(const char* verb) {
    return std::system((env("PLEXUS_SERVERS_SCRIPT") + " " + verb + " my-primary >/dev/null 2>&1").c_str()) == 0;
  }
  bool m_ok;
};

/// The service under test, as the test's name ends ("blocking" or "async").
std::string variant() {
  const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return name.substr(name.rfind('/') + 1);
}

/// A fresh folder `name` holding the example's own configuration and
/// migrations (a link to its folder), as the service runs from the repository.
fs::path example_folder(const std::string& name) {
  const fs::path dir = fs::absolute(name + "_" + variant());
  fs::remove_all(dir);
  fs::create_directories(dir / "examples");
  fs::create_directory_symlink(source("examples/shop-service"), dir / "examples/shop-service");
  return dir;
}

/// Every test runs against both services: the blocking one (cpp-httplib,
/// thread per connection) and the asynchronous one (Boost.Beast, one I/O
/// thread): the same endpoints, answers and errors.
class ShopService : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (binary().empty()) GTEST_SKIP() << variable() << " is not set (the " << GetParam() << " service was not built)";
  }
  [[nodiscard]] std::string variable() const { return GetParam() == "async" ? "SHOP_SERVICE_ASYNC" : "SHOP_SERVICE"; }
  /// The binary: $SHOP_SERVICE / $SHOP_SERVICE_ASYNC, else the one this build made.
  [[nodiscard]] std::string binary() const {
    const std::string set = env(variable().c_str());
    return !set.empty() || GetParam() != "async" ? set : SHOP_SERVICE_ASYNC_BUILT;
  }
};

TEST_P(ShopService, EveryEndpointOnSqlite) {
  const fs::path dir = example_folder("shop_sqlite");
  Service svc(binary(), dir, dir / "examples/shop-service/database.toml");
  ASSERT_GT(svc.port, 0) << svc.log();
  EXPECT_NE(svc.log().find("7 done, 0 failed"), std::string::npos) << svc.log();
  // ids 4, 1, 2, 3 land on shard_1..shard_4 (modulo 4).
  every_endpoint(svc.port, {4, 1, 2, 3});
  // Routed where the service says: shard_3's own file holds user 2 and its order, and no other member does.
  plexus::DatabaseConfig cfg;
  for (int i = 1; i <= 4; ++i)
    cfg.add("m" + std::to_string(i), plexus::sqlite((dir / ("var/shop/shard_" + std::to_string(i) + ".sqlite")).string()));
  plexus::Database direct(cfg);
  for (int i = 1; i <= 4; ++i) {
    auto& m = direct.connection("m" + std::to_string(i));
    EXPECT_EQ(m.table("users").count(), 1u) << "shard_" << i;
    EXPECT_EQ(m.table("users").where("id", std::vector<std::int64_t>{4, 1, 2, 3}[i - 1]).count(), 1u);
    EXPECT_EQ(m.table("orders").count(), 1u);
  }
  burst(svc.port, 200);
}

// The seed's ShardRouter grows from 3 shards to 4 while the service serves:
// a client keeps creating and reading users through /shards/users while an
// online reshard (another process's Database, as `plexus reshard` would be)
// copies, verifies and switches; every request is answered, every user ends
// on the new shard its id names, the orders stay where they were.
TEST_P(ShopService, UsersShardsGrowFromThreeToFourWhileServing) {
  const fs::path dir = example_folder("shop_grow");
  Service svc(binary(), dir, dir / "examples/shop-service/grow.toml");
  ASSERT_GT(svc.port, 0) << svc.log();
  for (int id = 1; id <= 30; ++id)
    ASSERT_EQ(call(svc.port, "POST", "/shards/users", {{"id", id}, {"name", "u" + std::to_string(id)}, {"email", "u@example.com"}}).status, 201);
  ASSERT_EQ(call(svc.port, "POST", "/shards/orders", {{"user_id", 5}, {"total_amount", 9}}).status, 201);
  std::atomic<bool> stop{false};
  std::atomic<int> next{31}, failed{0}, answered{0};
  std::string first_failure;
  std::thread client([&] {
    std::mt19937 rng(7);
    while (!stop) {
      Reply r;
      if (rng() % 3 == 0) {
        const int id = next++;
        r = call(svc.port, "POST", "/shards/users", {{"id", id}, {"name", "u" + std::to_string(id)}, {"email", "u@example.com"}});
      } else {
        r = call(svc.port, "GET", "/shards/users/" + std::to_string(1 + rng() % 30));
      }
      ++answered;
      if (r.status != 200 && r.status != 201 && failed++ == 0) first_failure = r.body.dump();
    }
  });
  const fs::path was = fs::current_path();
  fs::current_path(dir);  // the configuration names its files from the repository root
  {
    plexus::Database db = plexus::Database::from_file("examples/shop-service/grow.toml");
    plexus::OnlineReshard rs(db, "users_shards");
    EXPECT_EQ(rs.start("users_shards_4", {"users"}).state, "copied");
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(rs.verify().ok());
    EXPECT_EQ(rs.switch_traffic().serving, "users_shards_4");
    std::this_thread::sleep_for(300ms);
    stop = true;
    client.join();
    EXPECT_EQ(rs.complete().state, "complete");
    EXPECT_EQ(failed.load(), 0) << first_failure;
    EXPECT_GT(answered.load(), 20);
    // Every user created, before or during, answers, from the shard its id names among four.
    auto& grown = db.shards("users_shards_4");
    for (int id = 1; id < next; ++id) {
      EXPECT_EQ(call(svc.port, "GET", "/shards/users/" + std::to_string(id)).status, 200) << id;
      EXPECT_EQ(grown.member(static_cast<std::size_t>(id % 4)).table("users").where("id", id).count(), 1u) << id;
    }
    for (int i = 1; i <= 3; ++i)
      EXPECT_EQ(db.connection("shard_" + std::to_string(i)).table("users").count(), 0u) << "shard_" << i;
    EXPECT_EQ(db.shards("orders_shards").table("orders").where("user_id", 5).count(), 1u);
  }
  fs::current_path(was);
}

// Bad input of every kind never gets a 5xx but a 503 (a database down or
// saturated, with Retry-After): bodies too large or of the wrong types, ids
// out of range, wrong methods and paths, LIKE wildcards in a search, and a
// burst larger than the pools; every answer is JSON.
TEST_P(ShopService, BadInputNeverGivesA5xxButA503) {
  const fs::path dir = example_folder("shop_bad_input");
  Service svc(binary(), dir, dir / "examples/shop-service/database.toml");
  ASSERT_GT(svc.port, 0) << svc.log();
  httplib::Client client("127.0.0.1", svc.port);
  client.set_read_timeout(30, 0);
  std::size_t tried = 0;
  const auto check = [&](const httplib::Result& res, const std::string& what, std::initializer_list<int> allowed) {
    ++tried;
    ASSERT_TRUE(res) << what << ": " << httplib::to_string(res.error());
    EXPECT_TRUE(res->status < 500 || res->status == 503) << what << ": " << res->status << " " << res->body;
    if (res->status == 503) {
      EXPECT_TRUE(res->has_header("Retry-After")) << what;
    }
    EXPECT_FALSE(json::parse(res->body, nullptr, false).is_discarded()) << what << ": not JSON: " << res->body.substr(0, 200);
    if (allowed.size() > 0) {
      EXPECT_NE(std::find(allowed.begin(), allowed.end(), res->status), allowed.end()) << what << ": " << res->status << " " << res->body;
    }
  };
  auto ada = call(svc.port, "POST", "/users", {{"name", "Ada 100% Lovelace"}, {"email", "ada@example.com"}});
  ASSERT_EQ(ada.status, 201) << ada.body;
  (void)call(svc.port, "POST", "/users", {{"name", "Bob Plain"}, {"email", "bob@example.com"}});

  // Sizes: a body past 1 MiB is a 413 with a JSON body, and nothing is stored.
  const std::string big = json{{"name", std::string(2 << 20, 'x')}, {"email", "big@example.com"}}.dump();
  auto res = client.Post("/users", big, "application/json");
  check(res, "a 2 MiB body", {413});
  EXPECT_EQ(call(svc.port, "GET", "/search?q=big@example").body["results"]["users"].size(), 0u);

  // Types and values in bodies, generated.
  std::mt19937_64 rng(20261207);
  const std::vector<json> odd = {nullptr, true, -1, 0, json(18446744073709551615ULL), json(9223372036854775807LL), 1e300,
                                 -0.5, "12", "", json::array({1}), json::object({{"a", 1}}), std::string(300, 'z'), "Grüße"};
  for (int i = 0; i < 120; ++i) {
    const json a = odd[rng() % odd.size()], b = odd[rng() % odd.size()];
    check(client.Post("/orders", json{{"user_id", a}, {"total_amount", b}}.dump(), "application/json"), "orders " + a.dump() + " " + b.dump(), {201, 400});
    check(client.Post("/users", json{{"name", a}, {"email", b}}.dump(), "application/json"), "users " + a.dump() + " " + b.dump(), {201, 400, 409});
    check(client.Post("/shards/users", json{{"id", a}, {"name", "n"}, {"email", b}}.dump(), "application/json"), "shard users " + a.dump(), {201, 400, 409});
  }
  for (const char* body : {"", "{", "[]", "null", "\"text\"", "{\"name\": }", "\xff\xfe"})
    check(client.Post("/users", body, "application/json"), std::string("body ") + body, {400});
  // A user_id past int64 is refused, not stored as -1.
  check(client.Post("/orders", R"({"user_id": 18446744073709551615, "total_amount": 5})", "application/json"), "uint64 user id", {400});

  // Ids in paths: generated digits of any length.
  for (int i = 0; i < 60; ++i) {
    std::string digits = std::to_string(1 + rng() % 9);
    const std::size_t n = rng() % 30;
    for (std::size_t k = 0; k < n; ++k) digits += static_cast<char>('0' + rng() % 10);
    check(client.Get("/users/" + digits), "users/" + digits, {200, 400, 404});
    check(client.Get("/shards/users/" + digits), "shards/users/" + digits, {200, 400, 404});
  }
  check(client.Get("/users/99999999999999999999"), "a 20-digit id", {400});
  check(client.Get("/users/0"), "id 0", {400});

  // Methods and paths.
  check(client.Put("/users", "{}", "application/json"), "PUT /users", {404, 405});
  check(client.Delete("/users/1"), "DELETE /users/1", {404, 405});
  check(client.Get("/orders"), "GET /orders", {404, 405});
  for (const char* path : {"/nope", "/users/abc", "/users/-1", "/../etc/passwd", "/users/1/extra", "/%00"})
    check(client.Get(path), std::string("GET ") + path, {400, 404});

  // LIKE wildcards are literal: "%%%" and "___" match only text that holds them.
  auto all = call(svc.port, "GET", "/search?q=%25%25%25");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.body["results"]["users"].size(), 0u) << "%%% matched: " << all.body;
  EXPECT_EQ(call(svc.port, "GET", "/search?q=___").body["results"]["users"].size(), 0u);
  auto percent = call(svc.port, "GET", "/search?q=100%25");
  ASSERT_EQ(percent.status, 200);
  ASSERT_EQ(percent.body["results"]["users"].size(), 1u) << percent.body;
  EXPECT_EQ(percent.body["results"]["users"][0]["name"], "Ada 100% Lovelace");

  // A burst past the pools: 200 or 503 with Retry-After, never a 500.
  std::vector<std::thread> threads;
  std::vector<int> statuses(200);
  std::vector<std::string> bodies(200);
  std::vector<bool> retry_after(200);
  for (int i = 0; i < 200; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", svc.port);
      c.set_read_timeout(60, 0);
      auto r = c.Get("/search?q=Lovelace");
      statuses[i] = r ? r->status : 0;
      bodies[i] = r ? r->body : httplib::to_string(r.error());
      retry_after[i] = r && r->has_header("Retry-After");
    });
  for (auto& t : threads) t.join();
  int ok = 0, busy = 0;
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(statuses[i] == 200 || statuses[i] == 503) << i << ": " << statuses[i] << " " << bodies[i];
    if (statuses[i] == 503) {
      ++busy;
      EXPECT_TRUE(retry_after[i]);
      EXPECT_EQ(bodies[i].find("pool"), std::string::npos) << "pool internals in the answer: " << bodies[i];
    }
    ok += statuses[i] == 200;
  }
  EXPECT_GT(ok, 0);
  std::printf("figures: shop bad input: %zu generated requests, no 5xx but 503; burst of 200 searches: %d answered, %d busy (503)\n",
              tried, ok, busy);
}

// A saturated database (a pool of one session that waits 1 ms for it) under
// a burst: every answer is 200 or a 503 with Retry-After that names the
// database and shows no pool internals; none is a 500.
TEST_P(ShopService, ASaturatedPoolIsA503WithRetryAfter) {
  const fs::path dir = example_folder("shop_saturated");
  std::ifstream in(source("examples/shop-service/database.toml"));
  std::string toml(std::istreambuf_iterator<char>(in), {});
  const std::string section = "[connections.orders_db]\n";
  toml.insert(toml.find(section) + section.size(), "pool = { max = 1, acquire_timeout_ms = 1 }\n");
  std::ofstream(dir / "saturated.toml") << toml;
  Service svc(binary(), dir, dir / "saturated.toml");
  ASSERT_GT(svc.port, 0) << svc.log();
  ASSERT_EQ(call(svc.port, "POST", "/users", {{"name", "Ada"}, {"email", "ada@example.com"}}).status, 201);
  std::vector<std::thread> threads;
  std::vector<int> statuses(200);
  std::vector<std::string> bodies(200), retry(200);
  for (int i = 0; i < 200; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", svc.port);
      c.set_read_timeout(60, 0);
      auto r = i % 5 == 0 ? c.Get("/users/1") : c.Post("/orders", R"({"user_id": 1, "total_amount": 2.5})", "application/json");
      statuses[i] = r ? r->status : 0;
      bodies[i] = r ? r->body : httplib::to_string(r.error());
      retry[i] = r ? r->get_header_value("Retry-After") : "";
    });
  for (auto& t : threads) t.join();
  int busy = 0;
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(statuses[i] == 200 || statuses[i] == 201 || statuses[i] == 503) << i << ": " << statuses[i] << " " << bodies[i];
    if (statuses[i] != 503) continue;
    ++busy;
    EXPECT_EQ(retry[i], "1") << bodies[i];
    const json body = json::parse(bodies[i], nullptr, false);
    EXPECT_EQ(body["database"], "orders_db") << bodies[i];
    EXPECT_EQ(bodies[i].find("pool"), std::string::npos) << "pool internals in the answer: " << bodies[i];
  }
  EXPECT_GT(busy, 0) << "a pool of one with a 1 ms wait never ran out under 200 requests at once";
  std::printf("figures: shop saturated: %d of 200 answered 503 with Retry-After\n", busy);
}

/// Fresh schemas and databases of the service's own on the real servers, and
/// its configuration in `name`/database.toml (`maria_query`: options for the
/// MariaDB URLs). Returns the folder.
fs::path servers_setup(const std::string& name, const std::string& maria_query = "") {
  const fs::path dir = fs::absolute(name + "_" + variant());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string pg = env("PLEXUS_TEST_PG_URL"), pg_replica = env("PLEXUS_TEST_PG_REPLICA_URL"),
                    shard1 = env("PLEXUS_TEST_PG_SHARD1_URL"), shard2 = env("PLEXUS_TEST_PG_SHARD2_URL"),
                    maria = env("PLEXUS_TEST_MYSQL_URL");
  const std::string maria_base = maria.substr(0, maria.rfind('/'));
  {
    // Fresh schemas and databases of the service's own (other tests share these servers).
    plexus::DatabaseConfig cfg;
    cfg.add("pg", plexus::parse_url(pg));
    cfg.add("s1", plexus::parse_url(shard1));
    cfg.add("s2", plexus::parse_url(shard2));
    cfg.add("maria", plexus::parse_url(maria));
    plexus::Database setup(cfg);
    setup.connection("pg").execute("DROP SCHEMA IF EXISTS shop_svc CASCADE");
    setup.connection("pg").execute("CREATE SCHEMA shop_svc");
    for (const char* s : {"s1", "s2"}) {
      setup.connection(s).execute("DROP SCHEMA IF EXISTS shop_svc CASCADE");
      setup.connection(s).execute("CREATE SCHEMA shop_svc");
    }
    setup.connection("s2").execute("DROP SCHEMA IF EXISTS shop_analytics CASCADE");
    setup.connection("s2").execute("CREATE SCHEMA shop_analytics");
    for (const char* d : {"shop_svc_orders", "shop_svc_shard"}) {
      setup.connection("maria").execute(std::string("DROP DATABASE IF EXISTS ") + d);
      setup.connection("maria").execute(std::string("CREATE DATABASE ") + d);
    }
    // The replica replays the schema before users_db's reads go there.
    plexus::DatabaseConfig rc;
    rc.add("r", plexus::parse_url(pg_replica));
    plexus::Database replica(rc);
    for (int i = 0; i < 200 && replica.connection("r").scalar("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'shop_svc'").as<int>() == 0; ++i)
      std::this_thread::sleep_for(25ms);
  }
  const std::string mig = source("examples/shop-service/migrations");
  const std::string replica_host = pg_replica.substr(pg_replica.find('@') + 1, pg_replica.rfind('/') - pg_replica.find('@') - 1);
  std::ofstream(dir / "database.toml") << "default = \"users_db\"\n"
      << "[connections.users_db]\nurl = \"" << pg << "\"\nread_hosts = [\"" << replica_host << "\"]\n"
      << "options = { options = \"-c search_path=shop_svc\" }\nmigrations = \"" << mig << "/users_db\"\n"
      << "[connections.orders_db]\nurl = \"" << maria_base << "/shop_svc_orders" << maria_query << "\"\nmigrations = \"" << mig << "/orders_db\"\n"
      << "[connections.analytics]\nurl = \"" << shard2 << "\"\noptions = { options = \"-c search_path=shop_analytics\" }\nmigrations = \"" << mig
      << "/analytics\"\n"
      << "[connections.shard_1]\nurl = \"" << shard1 << "\"\noptions = { options = \"-c search_path=shop_svc\" }\nmigrations = \"" << mig << "/shards\"\n"
      << "[connections.shard_2]\nurl = \"" << shard2 << "\"\noptions = { options = \"-c search_path=shop_svc\" }\nmigrations = \"" << mig << "/shards\"\n"
      << "[connections.shard_3]\nurl = \"" << maria_base << "/shop_svc_shard" << maria_query << "\"\nmigrations = \"" << mig << "/shards\"\n"
      << "[connections.shard_4]\ndriver = \"sqlite\"\ndatabase = \"" << (dir / "shard_4.sqlite").string() << "\"\nmigrations = \"" << mig
      << "/shards\"\n"
      << "[shards.users_shards]\nmembers = [\"shard_1\", \"shard_2\", \"shard_3\", \"shard_4\"]\nstrategy = \"modulo\"\nkey = \"id\"\n"
      << "[shards.orders_shards]\nmembers = [\"shard_1\", \"shard_2\", \"shard_3\", \"shard_4\"]\nstrategy = \"modulo\"\nkey = \"user_id\"\n";
  return dir;
}

TEST_P(ShopService, RealServersWithOneHalted) {
  if (env("PLEXUS_TEST_PG_URL").empty() || env("PLEXUS_SERVERS_SCRIPT").empty())
    GTEST_SKIP() << "needs the servers (scripts/servers start)";
  const fs::path dir = servers_setup("shop_servers");
  Service svc(binary(), dir, dir / "database.toml");
  ASSERT_GT(svc.port, 0) << svc.log();
  EXPECT_NE(svc.log().find("7 done, 0 failed"), std::string::npos) << svc.log();
  every_endpoint(svc.port, {4, 1, 2, 3});
  burst(svc.port, 200);

  // MariaDB down: orders_db and shard_3 are gone; everything else answers.
  HaltedMariaDb halted;
  ASSERT_TRUE(halted.ok());
  auto health = call(svc.port, "GET", "/health");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_EQ(health.body["status"], "degraded");
  EXPECT_EQ(health.body["databases"]["orders_db"]["status"], "down") << health.body;
  EXPECT_EQ(health.body["databases"]["shard_3"]["status"], "down");
  EXPECT_EQ(health.body["databases"]["users_db"]["status"], "healthy");
  EXPECT_EQ(health.body["databases"]["analytics"]["status"], "healthy");
  auto stats = call(svc.port, "GET", "/users/1");
  EXPECT_EQ(stats.status, 503) << stats.body;
  EXPECT_EQ(stats.body["database"], "orders_db");
  EXPECT_EQ(call(svc.port, "POST", "/orders", {{"user_id", 1}, {"total_amount", 1}}).status, 503);
  auto search = call(svc.port, "GET", "/search?q=Lovelace");
  ASSERT_EQ(search.status, 200) << search.body;
  EXPECT_EQ(search.body["unavailable"], json::array({"orders_db"}));
  EXPECT_EQ(search.body["results"]["users"].size(), 1u);
  EXPECT_EQ(call(svc.port, "GET", "/dashboard").status, 200);
  EXPECT_EQ(call(svc.port, "POST", "/users", {{"name", "While Down"}, {"email", "down@example.com"}}).status, 201);
  EXPECT_EQ(call(svc.port, "GET", "/shards/users/4").status, 200);  // shard_1, PostgreSQL
  EXPECT_EQ(call(svc.port, "GET", "/shards/users/3").status, 200);  // shard_4, SQLite
  auto on_maria = call(svc.port, "GET", "/shards/users/2");         // shard_3, MariaDB
  EXPECT_EQ(on_maria.status, 503) << on_maria.body;
  EXPECT_EQ(on_maria.body["database"], "shard_3");

  // Back up: the same endpoints answer again, no restart of the service.
  ASSERT_TRUE(halted.resume());
  Reply after;
  for (int i = 0; i < 100; ++i) {
    after = call(svc.port, "GET", "/users/1");
    if (after.status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after.status, 200) << after.body;
  EXPECT_EQ(call(svc.port, "GET", "/shards/users/2").status, 200);
  EXPECT_EQ(call(svc.port, "GET", "/health").status, 200);
}

// A database down when the service starts: it starts all the same, says so
// in /health (degraded, its migrations pending), and migrates it once it
// answers again; then its endpoints work, with no restart.
TEST_P(ShopService, StartsDegradedWithADatabaseDownAndMigratesItWhenItReturns) {
  if (env("PLEXUS_TEST_PG_URL").empty() || env("PLEXUS_SERVERS_SCRIPT").empty())
    GTEST_SKIP() << "needs the servers (scripts/servers start)";
  const fs::path dir = servers_setup("shop_degraded", "?connect_timeout=2");
  HaltedMariaDb halted;
  ASSERT_TRUE(halted.ok());
  Service svc(binary(), dir, dir / "database.toml");
  ASSERT_GT(svc.port, 0) << "the service did not start with MariaDB down:\n" << svc.log();
  EXPECT_NE(svc.log().find("orders_db is down"), std::string::npos) << svc.log();
  auto health = call(svc.port, "GET", "/health");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_EQ(health.body["status"], "degraded");
  const auto pending = health.body["migrations_pending"];
  EXPECT_NE(std::find(pending.begin(), pending.end(), "orders_db"), pending.end()) << health.body;
  EXPECT_NE(std::find(pending.begin(), pending.end(), "shard_3"), pending.end()) << health.body;
  EXPECT_EQ(call(svc.port, "POST", "/users", {{"name", "Early"}, {"email", "early@example.com"}}).status, 201)
      << "what does not need MariaDB answers";

  ASSERT_TRUE(halted.resume());
  Reply after;
  for (int i = 0; i < 150; ++i) {
    after = call(svc.port, "GET", "/health");
    if (after.status == 200 && !after.body.contains("migrations_pending")) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after.status, 200) << after.body;
  EXPECT_FALSE(after.body.contains("migrations_pending")) << after.body;
  auto order = call(svc.port, "POST", "/orders", {{"user_id", 1}, {"total_amount", 3}});
  EXPECT_EQ(order.status, 201) << order.body;
  EXPECT_EQ(call(svc.port, "POST", "/shards/users", {{"id", 2}, {"name", "On MariaDB"}, {"email", "m@example.com"}}).status, 201);
}

INSTANTIATE_TEST_SUITE_P(Services, ShopService, ::testing::Values("blocking", "async"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace

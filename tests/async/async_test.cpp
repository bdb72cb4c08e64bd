// The asynchronous API on every engine (SQLite through the worker pool,
// PostgreSQL direct and through pgbouncer, MariaDB): results and errors as
// on the blocking API, the same hooks and routes, many statements in flight
// from one thread over a small pool, the pool's timeout, plexus::all, and a
// cancelled statement stopped on the server.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "conformance/conformance_fixture.hpp"
#include "plexus/async.hpp"

using namespace plexus;
using namespace plexus::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

class Async : public Conformance {
 protected:
  void SetUp() override {
    Conformance::SetUp();
    if (IsSkipped() || ctx.name != "mysql") return;
    // MariaDB over TLS has no non-blocking side (its statements run on a
    // worker: EncryptedMariaDbRunsOnAWorkerAndIsCancelledToo); the suite
    // takes the non-blocking path.
    tls_cfg = cfg;
    for (auto& c : cfg.connections)
      if (c.name == "main" || c.name == "users_db") c.options["sslmode"] = "disable";
    db = std::make_unique<Database>(cfg);
    conn = &db->connection("main");
  }
  DatabaseConfig tls_cfg;
  /// Runs `body` as a coroutine on an io_context driven by this thread alone.
  template <class F>
  void run(F body) {
    asio::io_context io;
    std::exception_ptr failed;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) { failed = e; });
    io.run();
    if (failed) std::rethrow_exception(failed);
  }
  /// A statement that waits `seconds` on the server.
  [[nodiscard]] std::string sleep_sql(double seconds) const {
    if (ctx.name == "mysql") return "SELECT SLEEP(" + std::to_string(seconds) + ") AS slept";
    if (ctx.name == "sqlite") return "SELECT 1 AS slept";
    return "SELECT 1 AS slept FROM pg_sleep(" + std::to_string(seconds) + ")";
  }
};

}  // namespace

TEST_P(Async, QueriesReturnWhatTheBlockingApiReturnsAndFailTheSameWay) {
  struct Seen {
    std::string sql, connection;
    Intent intent;
    std::uint64_t rows;
  };
  std::vector<Seen> seen;  // copies: an event's views live as long as the hook call
  std::mutex seen_mutex;
  auto hook = conn->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(seen_mutex);
    seen.push_back({std::string(e.sql), std::string(e.connection), e.intent, e.rows});
  });
  run([&]() -> awaitable<void> {
    co_await async_execute(*conn, "CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, name " + ctx.text + ")", {}, use_awaitable);
    for (int i = 1; i <= 3; ++i)
      co_await async_execute(*conn, "INSERT INTO " + table + " (id, name) VALUES (?, ?)", values(i, "n" + std::to_string(i)),
                             use_awaitable);
    Result r = co_await async_select(*conn, "SELECT id, name FROM " + table + " WHERE id >= ? ORDER BY id", values(2), use_awaitable);
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0][1].as<std::string>(), "n2");
    EXPECT_EQ(r.columns()[1], "name");
    Result changed = co_await async_execute(*conn, "UPDATE " + table + " SET name = ? WHERE id < ?", values("x", 3), use_awaitable);
    EXPECT_EQ(changed.affected_rows(), 2u);
    const Result blocking = conn->select("SELECT id, name FROM " + table + " WHERE id >= ? ORDER BY id", {2});
    EXPECT_EQ(r.size(), blocking.size());
    EXPECT_EQ(r[1][0].as<int>(), blocking[1][0].as<int>()) << "the same rows as the blocking API";

    // Errors as the blocking API throws them, with the connection named.
    try {
      (void)co_await async_select(*conn, "SELEC nothing", {}, use_awaitable);
      ADD_FAILURE() << "broken SQL was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::syntax) << e.what();
      EXPECT_NE(std::string(e.what()).find("main"), std::string::npos) << e.what();
    }
    try {
      (void)co_await async_select(*conn, "SELECT id FROM " + table + " WHERE id = ?", {}, use_awaitable);
      ADD_FAILURE() << "a missing value was accepted";
    } catch (const UsageError&) {
    }
    try {
      (void)co_await async_select(*conn, std::string("SELECT 1\0; DROP TABLE x", 24), {}, use_awaitable);
      ADD_FAILURE() << "a NUL byte was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("NUL"), std::string::npos);
    }
    // The session that failed is fine for the next statement.
    EXPECT_EQ((co_await async_select(*conn, "SELECT count(*) FROM " + table, {}, use_awaitable))[0][0].as<int>(), 3);
  });
  std::lock_guard lock(seen_mutex);
  ASSERT_GE(seen.size(), 8u) << "the after-hooks saw every statement";
  bool saw_update = false;
  for (const auto& e : seen)
    if (e.sql.starts_with("UPDATE")) {
      saw_update = true;
      EXPECT_EQ(e.connection, "main");
      EXPECT_EQ(e.intent, Intent::write);
      EXPECT_EQ(e.rows, 2u);
    }
  EXPECT_TRUE(saw_update);
}

namespace {
struct AsyncPerson {
  std::int64_t id = 0;
  std::string name;
  std::int64_t qty = 0;
  static constexpr auto schema =
      plexus::schema("async_people", plexus::col<&AsyncPerson::id>("id", plexus::primary_key),
                     plexus::col<&AsyncPerson::name>("name"), plexus::col<&AsyncPerson::qty>("qty"))
          .connection("main");
};
}  // namespace

TEST_P(Async, BuilderVerbsAndModelFindAnswerAsTheBlockingOnes) {
  const std::string key = ctx.name == "sqlite" ? "INTEGER PRIMARY KEY"
                          : ctx.name == "mysql" ? "BIGINT AUTO_INCREMENT PRIMARY KEY"
                                                : "BIGSERIAL PRIMARY KEY";
  conn->execute("DROP TABLE IF EXISTS async_people");
  conn->execute("CREATE TABLE async_people (id " + key + ", name " + ctx.text + ", qty INTEGER NOT NULL)");
  const QueryBuilder people = conn->table("async_people");
  run([&]() -> awaitable<void> {
    const Fields ann{{"name", "ann"}, {"qty", 3}};
    const std::int64_t first_id = co_await async_insert_get_id(*conn, people, ann, "id", use_awaitable);
    EXPECT_GT(first_id, 0);
    const Fields bob{{"name", "bob"}, {"qty", 5}};
    const Result inserted = co_await async_insert(*conn, people, bob, use_awaitable);
    EXPECT_EQ(inserted.affected_rows(), 1u);
    const Fields cy{{"name", "cy"}, {"qty", 5}};
    const std::int64_t third = co_await async_insert_get_id(*conn, people, cy, "id", use_awaitable);
    EXPECT_GT(third, first_id) << "a later row, a larger key";
    EXPECT_EQ(co_await async_count(*conn, people, "*", use_awaitable), 3);
    QueryBuilder fives = people;
    fives.where("qty", 5);
    EXPECT_EQ(co_await async_count(*conn, fives, "*", use_awaitable), 2);
    QueryBuilder by_name = people;
    by_name.order_by("name", "desc");
    const std::optional<Record> last = co_await async_first(*conn, by_name, use_awaitable);
    EXPECT_TRUE(last && (*last)["name"].as<std::string>() == "cy");
    QueryBuilder nobody = people;
    nobody.where("qty", 99);
    EXPECT_FALSE((co_await async_first(*conn, nobody, use_awaitable)).has_value());
    const Fields more{{"qty", 6}};
    EXPECT_EQ(co_await async_update(*conn, fives, more, use_awaitable), 2u);
    // increment and upsert, as their blocking twins compile them.
    QueryBuilder ann_only = people;
    ann_only.where("id", first_id);
    const Fields renamed{{"name", "ann"}};
    EXPECT_EQ(co_await async_increment(*conn, ann_only, "qty", 10, renamed, use_awaitable), 1u);
    EXPECT_EQ(conn->table("async_people").where("id", first_id).value("qty").as<int>(), 13);
    const std::vector<Fields> upserts{{{"id", first_id}, {"name", "ann"}, {"qty", 3}},
                                      {{"id", third + 500}, {"name", "eve"}, {"qty", 1}}};
    const std::vector<std::string> by_id{"id"}, set_qty{"qty"};
    EXPECT_GE(co_await async_upsert(*conn, people, upserts, by_id, set_qty, use_awaitable), 2u);
    EXPECT_EQ(conn->table("async_people").where("id", first_id).value("qty").as<int>(), 3) << "updated where the key matched";
    EXPECT_EQ(conn->table("async_people").where("id", third + 500).value("name").as<std::string>(), "eve") << "inserted";
    EXPECT_EQ(co_await async_remove(*conn, QueryBuilder(people).where("id", third + 500), use_awaitable), 1u);
    EXPECT_THROW((void)async_increment(*conn, people, "qty", 1, {}, use_awaitable), UsageError) << "no where(): refused";
    // The model's finder: the row as an Entity, or nothing.
    auto model = db->model<AsyncPerson>();
    const auto found = co_await async_find(model, Value(first_id), use_awaitable);
    EXPECT_TRUE(found && found->name == "ann" && found->qty == 3);
    EXPECT_FALSE((co_await async_find(model, Value(first_id + 1000), use_awaitable)).has_value());
    // The model's create: inserted, its key read back, found again by the blocking find.
    const Fields dee{{"name", "dee"}, {"qty", 8}};
    const Entity<AsyncPerson> created = co_await async_create(model, dee, use_awaitable);
    EXPECT_GT(created.id, third);
    EXPECT_TRUE(created.exists());
    const auto again = model.find(created.id);
    EXPECT_TRUE(again && again->name == "dee" && again->qty == 8);
    // save(): a loaded entity's changed columns, back where it came from; a new one inserted.
    auto loaded = co_await async_find(model, Value(created.id), use_awaitable);
    loaded->qty = 9;
    co_await async_save(model, *loaded);
    EXPECT_TRUE(loaded->dirty().empty()) << "remembered as saved";
    const auto reread = model.find(created.id);
    EXPECT_TRUE(reread && reread->qty == 9 && reread->name == "dee");
    co_await async_save(model, *loaded);  // nothing changed: nothing sent
    Entity<AsyncPerson> fresh;
    fresh.name = "fay";
    fresh.qty = 4;
    co_await async_save(model, fresh);
    EXPECT_TRUE(fresh.exists());
    EXPECT_GT(fresh.id, created.id);
    EXPECT_EQ(model.find(fresh.id)->name, "fay");
    EXPECT_TRUE(co_await async_remove(model, fresh));
    EXPECT_FALSE(fresh.exists());
    EXPECT_FALSE(model.find(fresh.id).has_value());
    EXPECT_EQ(co_await async_remove(*conn, QueryBuilder(people).where("id", created.id), use_awaitable), 1u);
    const Fields unknown{{"no_such_column", 1}};
    EXPECT_THROW((void)async_create(model, unknown, use_awaitable), UsageError);
    // An update or delete without where() is refused before anything runs, as on the blocking API.
    EXPECT_THROW((void)co_await async_remove(*conn, people, use_awaitable), UsageError);
    QueryBuilder sixes = people;
    sixes.where("qty", 6);
    EXPECT_EQ(co_await async_remove(*conn, sixes, use_awaitable), 2u);
  });
  // What the blocking API sees afterwards: one row left, the one the async calls kept.
  EXPECT_EQ(conn->table("async_people").count(), 1);
  EXPECT_EQ(conn->table("async_people").first()->get<std::string>("name"), "ann");
  conn->execute("DROP TABLE async_people");
}

// Generated model queries (a filter on a typed column, an order, a limit)
// answered by async_get / async_first as get() / first() answer them.
TEST_P(Async, ModelQueriesAnswerAsTheBlockingOnesForGeneratedFilters) {
  const std::string key = ctx.name == "sqlite" ? "INTEGER PRIMARY KEY" : "BIGINT PRIMARY KEY";
  conn->execute("DROP TABLE IF EXISTS async_people");
  conn->execute("CREATE TABLE async_people (id " + key + ", name " + ctx.text + ", qty INTEGER NOT NULL)");
  std::mt19937_64 rng(4242);
  std::vector<std::vector<Value>> rows;
  for (int i = 1; i <= 60; ++i)
    rows.push_back({i, std::string(1, static_cast<char>('a' + rng() % 6)) + std::to_string(rng() % 10),
                    static_cast<std::int64_t>(rng() % 20)});
  (void)conn->execute_batch("INSERT INTO async_people (id, name, qty) VALUES (?, ?, ?)", rows);
  auto model = db->model<AsyncPerson>();
  const std::vector<std::string> ops{"=", "<", ">=", "<>"};
  int compared = 0;
  run([&]() -> awaitable<void> {
    EXPECT_EQ((co_await async_all(model, use_awaitable)).size(), 60u);
    for (int n = 0; n < 40; ++n) {
      const std::string op = ops[rng() % ops.size()];
      const std::int64_t qty = static_cast<std::int64_t>(rng() % 20);
      auto shaped = [&] {
        auto q = model.where("qty", op, qty);
        if (n % 3 == 0) q.where("name", ">=", std::string(1, static_cast<char>('a' + n % 6)));
        q.order_by(n % 2 ? "name" : "qty", n % 4 < 2 ? "asc" : "desc").order_by("id");
        if (n % 5 == 0) q.limit(7).offset(n % 3);
        return q;
      };
      const std::vector<Entity<AsyncPerson>> blocking = shaped().get();
      const std::vector<Entity<AsyncPerson>> awaited = co_await async_get(shaped(), use_awaitable);
      EXPECT_EQ(awaited.size(), blocking.size()) << "query " << n << ": qty " << op << " " << qty;
      for (std::size_t i = 0; i < awaited.size() && i < blocking.size(); ++i) {
        EXPECT_EQ(awaited[i].id, blocking[i].id) << "query " << n << " row " << i;
        EXPECT_EQ(awaited[i].name, blocking[i].name);
        EXPECT_TRUE(awaited[i].exists() && awaited[i].dirty().empty()) << "loaded, nothing changed";
      }
      const auto first = co_await async_first(shaped(), use_awaitable);
      const auto blocking_first = shaped().first();
      EXPECT_EQ(first.has_value(), blocking_first.has_value()) << "query " << n;
      if (first && blocking_first) EXPECT_EQ(first->id, blocking_first->id);
      ++compared;
    }
    // A loaded entity saves back where it came from.
    auto one = co_await async_first(model.where("id", 5), use_awaitable);
    EXPECT_TRUE(one.has_value());
    if (one) {
      one->qty = 99;
      co_await async_save(model, *one);
    }
  });
  EXPECT_EQ(compared, 40);
  EXPECT_EQ(model.find(5)->qty, 99);
  // A model query inside a blocking transaction is refused at the call.
  Transaction tx = conn->begin();
  EXPECT_THROW((void)async_get(model.in(tx).query(), asio::use_future), UsageError);
  tx.rollback();
  conn->execute("DROP TABLE async_people");
}

// health(), awaited: the report the blocking call gives, and a Database's
// connections probed at once (a silent server costs its connect timeout once).
TEST_P(Async, HealthReportsAsTheBlockingCallAndProbesConnectionsAtOnce) {
  const ConnectionHealth blocking = conn->health();
  ConnectionHealth awaited;
  std::vector<ConnectionHealth> all;
  run([&]() -> awaitable<void> {
    awaited = co_await async_health(*conn, use_awaitable);
    all = co_await async_health(*db);
  });
  EXPECT_EQ(awaited.name, "main");
  EXPECT_EQ(awaited.status(), blocking.status());
  EXPECT_EQ(awaited.hosts.size(), blocking.hosts.size());
  EXPECT_TRUE(awaited.primary_up);
  ASSERT_EQ(all.size(), db->connection_names().size());
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].name, db->connection_names()[i]);
  if (ctx.name == "sqlite") return;
  // Three connections to a server that accepts and never answers, a 1 s connect timeout each (2 s: libpq's least).
  SilentServer listener;
  DatabaseConfig dc;
  dc.add("up", *cfg.find("main"));
  for (const char* name : {"silent1", "silent2", "silent3"}) dc.add(name, listener.pointed(*cfg.find("main"), "1"));
  Database several(dc);
  std::vector<ConnectionHealth> reports;
  const auto t0 = std::chrono::steady_clock::now();
  run([&]() -> awaitable<void> { reports = co_await async_health(several); });
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(reports.size(), 4u);
  EXPECT_EQ(reports[0].status(), "healthy");
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(reports[i].status(), "down") << reports[i].name;
    EXPECT_FALSE(reports[i].hosts.front().error.empty());
  }
  EXPECT_LT(took, 4s) << "the three silent servers were waited for one after another (libpq waits at least 2 s)";
}

TEST_P(Async, ForEachRunsAtMostItsLimitAtOnceAndStopsAtTheFirstError) {
  std::vector<std::int64_t> keys(40);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<std::int64_t>(i);
  std::size_t running = 0, most = 0, done = 0;
  run([&]() -> awaitable<void> {
    co_await plexus::for_each(keys, 4, [&](std::int64_t k) -> awaitable<void> {
      ++running;
      most = std::max(most, running);
      Result r = co_await async_select(*conn, sleep_sql(0.01), {}, use_awaitable);
      EXPECT_EQ(r.size(), 1u);
      --running;
      done += static_cast<std::size_t>(k >= 0);
    });
  });
  EXPECT_EQ(done, keys.size());
  EXPECT_LE(most, 4u);
  if (ctx.name != "sqlite") {
    EXPECT_EQ(most, 4u) << "four at once";
  }
  // The first error is thrown; the lanes stop taking keys.
  std::size_t started = 0;
  EXPECT_THROW(run([&]() -> awaitable<void> {
                 co_await plexus::for_each(keys, 2, [&](std::int64_t k) -> awaitable<void> {
                   ++started;
                   if (k == 3) (void)co_await async_select(*conn, "SELEC broken", {}, use_awaitable);
                   else (void)co_await async_select(*conn, sleep_sql(0.01), {}, use_awaitable);
                 });
               }),
               Error);
  EXPECT_LT(started, keys.size()) << "the rest were not started";
  EXPECT_THROW(run([&]() -> awaitable<void> {
                 co_await plexus::for_each(keys, 0, [&](std::int64_t) -> awaitable<void> { co_return; });
               }),
               UsageError);
}

TEST_P(Async, SixtyFourStatementsInFlightFromOneThreadShareAPoolOfEight) {
  DatabaseConfig c = cfg;
  c.connections.front().pool.max = 8;
  Database small(c);
  Connection& main = small.connection("main");
  std::atomic<int> answered{0};
  const auto t0 = std::chrono::steady_clock::now();
  asio::io_context io;
  for (int i = 0; i < 64; ++i)
    asio::co_spawn(io, [&, i]() -> awaitable<void> {
      Result r = co_await async_select(main, "SELECT ? AS n", values(i), use_awaitable);
      EXPECT_EQ(r[0][0].as<int>(), i);
      ++answered;
    }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();  // this thread alone drives them
  EXPECT_EQ(answered.load(), 64);
  EXPECT_LE(main.pool_stats().open, 8u);
  if (ctx.name == "sqlite") return;
  // Eight statements that each wait 0.3 s on the server finish together.
  asio::io_context io2;
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i)
    asio::co_spawn(io2, [&]() -> awaitable<void> { (void)co_await async_select(main, sleep_sql(0.3), {}, use_awaitable); },
                   [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io2.run();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  EXPECT_LT(took, 1.2) << "eight 0.3 s statements from one thread took " << took << " s: they ran one after another";
  (void)t0;
}

TEST_P(Async, AnExhaustedPoolTimesOutAsTheBlockingAcquireDoes) {
  DatabaseConfig c = cfg;
  c.connections.front().pool.max = 1;
  c.connections.front().pool.acquire_timeout = 200ms;
  Database small(c);
  Connection& main = small.connection("main");
  // The one session is held by a blocking transaction on another thread.
  std::promise<void> holding, done;
  std::thread holder([&] {
    main.transaction([&](Transaction& tx) {
      (void)tx.select("SELECT 1");
      holding.set_value();
      done.get_future().wait();
    });
  });
  holding.get_future().wait();
  run([&]() -> awaitable<void> {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      (void)co_await async_select(main, "SELECT 1", {}, use_awaitable);
      ADD_FAILURE() << "a session was handed out twice";
    } catch (const TimeoutError& e) {
      EXPECT_NE(std::string(e.what()).find("main"), std::string::npos) << e.what();
      EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
    }
  });
  EXPECT_EQ(main.pool_stats().timeouts, 1u);
  // A session given back wakes an awaiting statement.
  std::thread release([&] {
    std::this_thread::sleep_for(50ms);
    done.set_value();
  });
  run([&]() -> awaitable<void> {
    EXPECT_EQ((co_await async_select(main, "SELECT 7", {}, use_awaitable))[0][0].as<int>(), 7);
  });
  release.join();
  holder.join();
}

TEST_P(Async, AllAwaitsEveryQueryAtOnceAndTheFirstErrorWins) {
  Connection& analytics = db->connection("analytics");  // a SQLite file beside the engine under test
  run([&]() -> awaitable<void> {
    auto [a, b, c] = co_await plexus::all(async_select(*conn, "SELECT 1 AS a", {}, use_awaitable),
                                          async_select(analytics, "SELECT 2 AS b", {}, use_awaitable),
                                          async_select(*conn, sleep_sql(0.1), {}, use_awaitable));
    EXPECT_EQ(a[0][0].as<int>(), 1);
    EXPECT_EQ(b[0][0].as<int>(), 2);
    EXPECT_EQ(c.size(), 1u);
    try {
      (void)co_await plexus::all(async_select(*conn, sleep_sql(0.2), {}, use_awaitable),
                                 async_select(analytics, "SELECT nope FROM nowhere", {}, use_awaitable));
      ADD_FAILURE() << "an error was lost";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::syntax) << e.what();
    }
  });
  // Callbacks and futures work too (no coroutine).
  std::future<Result> f = async_select(*conn, "SELECT 5", {}, asio::use_future);
  EXPECT_EQ(f.get()[0][0].as<int>(), 5);
}

namespace {

/// Races `slow` on `c` with a 300 ms timer from this thread; the timer must win within 2 s.
void cancel_after_300ms(Connection& c, const std::string& slow) {
  asio::io_context io;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto winner = co_await (async_select(c, slow, {}, use_awaitable) || timer.async_wait(use_awaitable));
    EXPECT_EQ(winner.index(), 1u) << "the timer won";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
}

}  // namespace

TEST_P(Async, ACancelledStatementIsStoppedOnTheServer) {
  if (ctx.name == "sqlite") {
    // In the process, on a worker: interrupted (sqlite3_interrupt), not left to run for minutes.
    cancel_after_300ms(*conn, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
                              "SELECT count(*) FROM c");
    EXPECT_EQ(conn->scalar("SELECT 3").as<int>(), 3);
    return;
  }
  const std::string marker = "plexus_cancel_" + ctx.name;
  const std::string slow = ctx.name == "mysql" ? "SELECT SLEEP(30) AS " + marker : "SELECT pg_sleep(30) AS " + marker;
  cancel_after_300ms(*conn, slow);
  // Gone from the server within a second (asked on a session of another Database).
  Database other(cfg);
  const std::string look = ctx.name == "mysql"
                               ? "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%" + marker + "%' "
                                 "AND INFO NOT LIKE '%PROCESSLIST%'"
                               : "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + marker + "%' "
                                 "AND query NOT LIKE '%pg_stat_activity%' AND state = 'active'";
  int running = -1;
  for (int i = 0; i < 20 && running != 0; ++i) {
    running = other.connection("main").scalar(look).as<int>();
    if (running) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running, 0) << "the cancelled statement still runs on the server after a second";
  EXPECT_EQ(conn->scalar("SELECT 3").as<int>(), 3) << "the pool hands out a clean session";
}

TEST_P(Async, ReadsGoToTheReplicaAndWritesToThePrimaryAsOnTheBlockingApi) {
  if (ctx.name == "sqlite" || !cfg.find("replica")) GTEST_SKIP() << "needs a replica (the servers)";
  DatabaseConfig c = cfg;
  ConnectionConfig& m = c.connections.front();
  m.read_hosts = cfg.find("replica")->hosts;
  Database split(c);
  Connection& main = split.connection("main");
  std::vector<std::string> roles;
  std::mutex mutex;
  auto hook = main.on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(mutex);
    roles.push_back(std::string(e.role) + " " + std::string(e.route));
  });
  run([&]() -> awaitable<void> {
    (void)co_await async_select(main, "SELECT 1", {}, use_awaitable);
    (void)co_await async_execute(main, "SELECT 2", {}, use_awaitable);
    (void)co_await async_select(main.on_primary(), "SELECT 3", {}, use_awaitable);
  });
  std::lock_guard lock(mutex);
  ASSERT_EQ(roles.size(), 3u);
  EXPECT_TRUE(roles[0].starts_with("replica read")) << roles[0];
  EXPECT_TRUE(roles[1].starts_with("primary write")) << roles[1];
  EXPECT_TRUE(roles[2].starts_with("primary read: forced primary")) << roles[2];
}

TEST_P(Async, TransactionsCommitRollBackAndRetryAsOnTheBlockingApi) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER)");
  struct Step {
    std::string sql, route;
    std::uint64_t tx;
  };
  std::vector<Step> steps;
  std::mutex mutex;
  auto hook = conn->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(mutex);
    steps.push_back({std::string(e.sql), std::string(e.route), e.transaction_id});
  });
  const std::string insert = "INSERT INTO " + table + " (id, v) VALUES (?, ?)";
  run([&]() -> awaitable<void> {
    // Committed: both rows, one transaction id on every step.
    const std::uint64_t id = co_await async_transaction(*conn, [&](AsyncTransaction& tx) -> awaitable<std::uint64_t> {
      co_await tx.execute(insert, values(1, 10));
      co_await tx.execute(insert, values(2, 20));
      Result inside = co_await tx.select("SELECT count(*) FROM " + table);
      EXPECT_EQ(inside[0][0].as<int>(), 2) << "the transaction sees its own writes";
      co_return tx.id();
    });
    EXPECT_GT(id, 0u);
    // Thrown: rolled back, the error goes on.
    try {
      co_await async_transaction(*conn, [&](AsyncTransaction& tx) -> awaitable<void> {
        co_await tx.execute(insert, values(3, 30));
        throw std::runtime_error("changed my mind");
      });
      ADD_FAILURE() << "the error was lost";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "changed my mind");
    }
    // A conflict on the first attempt: run again (opt-in), committed once.
    int attempts = 0;
    TransactionOptions retry;
    retry.retry.attempts = 3;
    retry.retry.backoff = std::chrono::milliseconds(1);
    co_await async_transaction(*conn, [&](AsyncTransaction& tx) -> awaitable<void> {
      ++attempts;
      co_await tx.execute(insert, values(4, 40));
      if (attempts == 1) throw RetryableError("a deadlock, as the server would report it");
    }, retry);
    EXPECT_EQ(attempts, 2);
    // By hand: after commit() the transaction refuses statements.
    AsyncTransaction tx = co_await async_begin(*conn);
    co_await tx.execute(insert, values(5, 50));
    co_await tx.commit();
    EXPECT_TRUE(tx.committed());
    try {
      (void)co_await tx.select("SELECT 1");
      ADD_FAILURE() << "a statement ran after commit";
    } catch (const UsageError&) {
    }
  });
  Result rows = conn->select("SELECT id, v FROM " + table + " ORDER BY id");
  ASSERT_EQ(rows.size(), 4u) << "1, 2, 4 and 5: not 3 (rolled back), 4 once";
  EXPECT_EQ(rows[2][0].as<int>(), 4);
  EXPECT_EQ(rows[3][0].as<int>(), 5);
  std::lock_guard lock(mutex);
  std::uint64_t first_tx = 0;
  int begins = 0, commits = 0, rollbacks = 0, retries = 0;
  for (const auto& s : steps) {
    if (s.sql == "BEGIN") ++begins;
    if (s.sql == "COMMIT") ++commits;
    if (s.sql == "ROLLBACK" && s.route == "transaction") ++rollbacks;  // (the retry is reported as one too, routed "transaction: retry 2 of 3 …")
    if (s.route.starts_with("transaction: retry 2 of 3")) ++retries;
    if (s.sql.starts_with("INSERT") && first_tx == 0) first_tx = s.tx;
    if (s.sql.starts_with("INSERT")) {
      EXPECT_EQ(s.route, "transaction");
    }
  }
  EXPECT_EQ(begins, 5) << "three transactions, one run twice, one by hand";
  EXPECT_EQ(commits, 3);
  EXPECT_EQ(rollbacks, 2);
  EXPECT_EQ(retries, 1) << "the hooks were told of the retry";
  EXPECT_NE(first_tx, 0u);
  EXPECT_EQ(std::count_if(steps.begin(), steps.end(), [&](const Step& s) { return s.tx == first_tx; }), 5)
      << "BEGIN, two inserts, the count and COMMIT carry one transaction id";
}

TEST_P(Async, BatchesAnswerAsTheBlockingOnesAndAWriteBatchIsAllOrNothing) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER)");
  const std::string insert = "INSERT INTO " + table + " (id, v) VALUES (?, ?)";
  const std::string by_id = "SELECT v FROM " + table + " WHERE id = ?";
  constexpr int kRows = 300;  // more than two of PostgreSQL's pipeline chunks (128)
  std::vector<std::vector<Value>> rows, keys;
  for (int i = 1; i <= kRows; ++i) {
    rows.push_back({i, i * 7});
    keys.push_back({i});
  }
  std::vector<std::pair<std::string, std::uint64_t>> seen;
  std::mutex mutex;
  auto hook = conn->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(mutex);
    seen.emplace_back(std::string(e.sql), e.rows);
  });
  run([&]() -> awaitable<void> {
    std::vector<Result> written = co_await async_execute_batch(*conn, insert, rows, use_awaitable);
    EXPECT_EQ(written.size(), static_cast<std::size_t>(kRows));
    EXPECT_EQ(written.back().affected_rows(), 1u);
    // Twice: a statement prepared inside the pipeline, then the cached one.
    for (int round = 0; round < 2; ++round) {
      std::vector<Result> read = co_await async_select_batch(*conn, by_id, keys, use_awaitable);
      const std::vector<Result> blocking = conn->select_batch(by_id, keys);
      EXPECT_EQ(read.size(), blocking.size());
      for (std::size_t i = 0; i < read.size() && i < blocking.size(); ++i) {
        EXPECT_EQ(read[i].size(), 1u);
        EXPECT_EQ(read[i][0][0].as<int>(), blocking[i][0][0].as<int>()) << "set " << i;
        EXPECT_EQ(read[i][0][0].as<int>(), static_cast<int>(i + 1) * 7) << "set " << i;
      }
    }
    EXPECT_TRUE((co_await async_select_batch(*conn, by_id, {}, use_awaitable)).empty());

    // A key taken halfway through: the error, and none of the batch kept.
    std::vector<std::vector<Value>> clash;
    for (int i = kRows + 1; i <= kRows + 200; ++i) clash.push_back({i == kRows + 150 ? 5 : i, 0});
    try {
      (void)co_await async_execute_batch(*conn, insert, clash, use_awaitable);
      ADD_FAILURE() << "a duplicate key in the batch was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::constraint) << e.what();
      EXPECT_NE(std::string(e.what()).find("main"), std::string::npos) << e.what();
    }
    // A set with another count: refused before anything runs.
    std::vector<std::vector<Value>> uneven{{kRows + 1, 1}, {kRows + 2}};
    try {
      (void)co_await async_execute_batch(*conn, insert, uneven, use_awaitable);
      ADD_FAILURE() << "sets of different sizes were accepted";
    } catch (const UsageError&) {
    }
    // In a transaction: it joins it, and goes with its rollback.
    AsyncTransaction tx = co_await async_begin(*conn);
    std::vector<std::vector<Value>> more{{kRows + 1, 1}, {kRows + 2, 2}};
    EXPECT_EQ((co_await tx.execute_batch(insert, more)).size(), 2u);
    std::vector<std::vector<Value>> last{{kRows + 2}};
    EXPECT_EQ((co_await tx.select_batch(by_id, last))[0][0][0].as<int>(), 2);
    co_await tx.rollback();
  });
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), kRows) << "only the first batch was kept";
  std::lock_guard lock(mutex);
  const auto reads = std::count_if(seen.begin(), seen.end(), [&](const auto& e) { return e.first == by_id; });
  EXPECT_GE(reads, 4) << "each batch is one event for the hooks";
  for (const auto& [sql, n] : seen)
    if (sql == insert) {
      EXPECT_TRUE(n == static_cast<std::uint64_t>(kRows) || n == 2u) << "the rows of the whole batch: " << n;
      break;
    }
}

TEST_P(Async, ACancelledBatchIsStoppedOnTheServer) {
  if (ctx.name == "sqlite") GTEST_SKIP() << "cancelling SQLite: ACancelledStatementIsStoppedOnTheServer";
  std::vector<std::vector<Value>> twenty(20);
  run([&]() -> awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, 300ms);
    const auto t0 = std::chrono::steady_clock::now();
    auto winner = co_await (async_select_batch(*conn, sleep_sql(0.25), twenty, use_awaitable) ||
                            timer.async_wait(use_awaitable));
    EXPECT_EQ(winner.index(), 1u) << "the timer won over twenty quarter-second statements";
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  });
  EXPECT_EQ(conn->scalar("SELECT 3").as<int>(), 3) << "the pool hands out a clean session";
}

TEST_P(Async, CursorsHandOutEveryRowAsTheyArriveAndEndCleanly) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER)");
  constexpr int kRows = 2000;
  std::vector<std::vector<Value>> rows;
  for (int i = 1; i <= kRows; ++i) rows.push_back({i, i % 97});
  (void)conn->execute_batch("INSERT INTO " + table + " (id, v) VALUES (?, ?)", rows);
  const std::string all = "SELECT id, v FROM " + table + " WHERE id > ? ORDER BY id";
  std::vector<std::uint64_t> reported;
  std::mutex mutex;
  auto hook = conn->on_after_query([&](const QueryEvent& e) {
    std::lock_guard lock(mutex);
    if (e.sql == all) reported.push_back(e.rows);
  });
  run([&]() -> awaitable<void> {
    AsyncCursor c = co_await async_cursor(*conn, all, values(0));
    int expected = 1;
    std::size_t chunks = 0;
    for (Result chunk = co_await c.next(); !chunk.empty(); chunk = co_await c.next()) {
      ++chunks;
      EXPECT_EQ(chunk.columns()[1], "v");
      for (Row r : chunk) {
        EXPECT_EQ(r[0].as<int>(), expected);
        EXPECT_EQ(r[1].as<int>(), expected % 97);
        ++expected;
      }
      // The loop serves other statements while the cursor is open.
      if (chunks == 1) EXPECT_EQ((co_await async_select(*conn, "SELECT 7", {}, use_awaitable))[0][0].as<int>(), 7);
    }
    EXPECT_EQ(expected, kRows + 1) << "every row, once, in order";
    EXPECT_EQ(c.position(), static_cast<std::uint64_t>(kRows));
    EXPECT_TRUE(c.done());
    EXPECT_TRUE((co_await c.next()).empty()) << "after the end, empty again";

    AsyncCursor none = co_await async_cursor(*conn, all, values(kRows));
    EXPECT_TRUE((co_await none.next()).empty());
    EXPECT_TRUE(none.done());

    try {
      (void)co_await async_cursor(*conn, "SELEC id FROM " + table, {});
      ADD_FAILURE() << "broken SQL opened a cursor";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::syntax) << e.what();
    }
    try {
      (void)co_await async_cursor(*conn, all, {});
      ADD_FAILURE() << "a missing value was accepted";
    } catch (const UsageError&) {
    }
    // Dropped after its first rows: the session is not handed out mid-stream.
    {
      AsyncCursor dropped = co_await async_cursor(*conn, all, values(0));
      EXPECT_FALSE((co_await dropped.next()).empty());
    }
    EXPECT_EQ((co_await async_select(*conn, "SELECT count(*) FROM " + table, {}, use_awaitable))[0][0].as<int>(), kRows);
  });
  // (A dropped cursor of the worker pool ends there, soon after.)
  for (int i = 0; i < 100; ++i) {
    std::lock_guard lock(mutex);
    if (reported.size() >= 3) break;
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mutex);
  ASSERT_GE(reported.size(), 3u) << "the hooks hear of each cursor when it ends";
  EXPECT_EQ(reported[0], static_cast<std::uint64_t>(kRows));
  EXPECT_EQ(reported[1], 0u);
}

TEST_P(Async, EncryptedMariaDbRunsOnAWorkerAndIsCancelledToo) {
  if (ctx.name != "mysql") GTEST_SKIP() << "MariaDB over TLS only";
  Database tls(tls_cfg);
  Connection& main = tls.connection("main");
  asio::io_context io;
  asio::co_spawn(io, [&]() -> awaitable<void> {
    EXPECT_EQ((co_await async_select(main, "SELECT ? AS n", values(41), use_awaitable))[0][0].as<int>(), 41);
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
  const std::string marker = "plexus_cancel_tls";
  cancel_after_300ms(main, "SELECT SLEEP(30) AS " + marker);
  int running = -1;
  for (int i = 0; i < 20 && running != 0; ++i) {
    running = conn->scalar("SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%" + marker +
                           "%' AND INFO NOT LIKE '%PROCESSLIST%'").as<int>();
    if (running) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running, 0) << "the interrupted statement still runs on the server";
}

INSTANTIATE_TEST_SUITE_P(Engines, Async, ::testing::Values("sqlite", "postgres", "pgbouncer", "mysql"),
                         [](const auto& param) { return param.param; });

namespace {
/// The threads of this process now.
std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& t : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}
}  // namespace

// A PostgreSQL session (PQconnectStart, PQconnectPoll) and a MariaDB one
// without TLS (mysql_real_connect_start) open on the loop:
// sixteen statements over a fresh pool of four open its sessions and run
// without a single worker thread starting.
TEST_P(Async, SessionsOpenOnTheLoopWithoutAWorkerThread) {
  if (ctx.name == "sqlite") GTEST_SKIP() << ctx.name << " connects on a worker";
  DatabaseConfig fresh_cfg = cfg;
  for (auto& c : fresh_cfg.connections)
    if (c.name == "main") c.pool.max = 4;
  Database fresh(fresh_cfg);
  Connection& main = fresh.connection("main");
  // Asio starts its system executor's threads once per process, at the first operation.
  run([&]() -> awaitable<void> { (void)co_await async_select(*conn, "SELECT 1", {}, use_awaitable); });
  const std::size_t before = thread_count();
  std::vector<int> answers(16, 0);
  std::vector<std::size_t> which(16);
  for (std::size_t i = 0; i < which.size(); ++i) which[i] = i;
  run([&]() -> awaitable<void> {
    co_await plexus::for_each(which, 16, [&](std::size_t i) -> awaitable<void> {
      // On the primary: a replica's route may check its lag on a worker.
      const Result r = co_await async_query(main.on_primary(), "SELECT ? + 1 AS n", values(static_cast<int>(i)),
                                            Intent::read, use_awaitable);
      answers[i] = r[0][0].as<int>();
    });
  });
  for (int i = 0; i < 16; ++i) EXPECT_EQ(answers[static_cast<std::size_t>(i)], i + 1);
  EXPECT_EQ(main.pool_stats().open, 4u) << "the pool opened its four sessions";
  EXPECT_EQ(thread_count(), before) << "a worker thread started: a session was opened off the loop";
  // The session it opened is set up as the blocking connect sets it up.
  if (ctx.name == "mysql") EXPECT_EQ(main.scalar("SELECT @@session.time_zone").as<std::string>(), "+00:00");
  else EXPECT_EQ(main.scalar("SHOW TimeZone").as<std::string>(), "UTC");
}

// A cursor streams on the loop (no worker thread starts), and one dropped
// mid-stream stops its statement on the server within a second.
TEST_P(Async, ACursorStreamsOnTheLoopAndOneDroppedMidStreamStopsOnTheServer) {
  if (ctx.name == "sqlite") GTEST_SKIP() << "SQLite's cursors pull on a worker";
  const std::string marker = "plexus_cursor_" + ctx.name;
  // Statements that stream their rows as they make them (PostgreSQL's
  // generate_series in FROM would be materialised first).
  const std::string endless = ctx.name == "mysql" ? "SELECT seq AS " + marker + " FROM seq_1_to_500000000"
                                                  : "SELECT generate_series(1, 500000000) AS " + marker;
  Database fresh(cfg);
  Connection& main = fresh.connection("main");
  run([&]() -> awaitable<void> { (void)co_await async_select(main.on_primary(), "SELECT 1", {}, use_awaitable); });
  const std::size_t before = thread_count();
  run([&]() -> awaitable<void> {
    AsyncCursor c = co_await async_cursor(main.on_primary(), endless, {});
    std::uint64_t seen = 0;
    while (seen < 20000) {
      Result rows = co_await c.next();
      EXPECT_FALSE(rows.empty());
      if (rows.empty()) break;
      EXPECT_EQ(rows[0][0].as<std::uint64_t>(), seen + 1) << "in order, none skipped";
      seen += rows.size();
    }
    EXPECT_EQ(thread_count(), before) << "a worker thread started: the cursor did not stream on the loop";
    // Dropped here: stopped and closed on a worker.
  });
  const std::string look = ctx.name == "mysql"
                               ? "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%" + marker +
                                     "%' AND INFO NOT LIKE '%PROCESSLIST%'"
                               : "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + marker +
                                     "%' AND query NOT LIKE '%pg_stat_activity%' AND state = 'active'";
  int running = -1;
  for (int i = 0; i < 20 && running != 0; ++i) {
    running = conn->scalar(look).as<int>();
    if (running) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running, 0) << "the dropped cursor's statement still runs after a second";
  EXPECT_EQ(main.scalar("SELECT 3").as<int>(), 3);
}

// BEGIN (with an isolation level and read-only too: two statements on
// MariaDB), COMMIT and ROLLBACK run on the session's non-blocking side, as
// the statements between them do: a hundred transactions start no worker.
TEST_P(Async, TransactionStepsRunOnTheLoopWithoutAWorkerThread) {
  if (ctx.name == "sqlite") GTEST_SKIP() << ctx.name << " runs its transactions on a worker";
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER)");
  Database fresh(cfg);
  Connection& main = fresh.connection("main");
  run([&]() -> awaitable<void> { (void)co_await async_select(main.on_primary(), "SELECT 1", {}, use_awaitable); });
  const std::size_t before = thread_count();
  std::vector<std::string> steps;
  auto hook = main.on_after_query([&](const QueryEvent& e) {
    if (e.transaction_id) steps.emplace_back(e.sql);
  });
  const std::string insert = "INSERT INTO " + table + " (id, v) VALUES (?, ?)";
  TransactionOptions strict;
  strict.isolation = Isolation::serializable;
  strict.read_only = true;
  run([&]() -> awaitable<void> {
    for (int i = 1; i <= 100; ++i) {
      if (i % 10 == 0) {  // rolled back
        AsyncTransaction tx = co_await async_begin(main);
        co_await tx.execute(insert, values(i, i));
        co_await tx.rollback();
      } else {
        co_await async_transaction(main, [&](AsyncTransaction& tx) -> awaitable<void> {
          co_await tx.execute(insert, values(i, i));
        });
      }
    }
    // Serializable and read-only: the count is read, a write refused by the server.
    try {
      co_await async_transaction(main, [&](AsyncTransaction& tx) -> awaitable<void> {
        EXPECT_EQ((co_await tx.select("SELECT count(*) FROM " + table))[0][0].as<int>(), 90);
        (void)co_await tx.execute(insert, values(1000, 0));
      }, strict);
      ADD_FAILURE() << "a read-only transaction wrote";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::read_only) << e.what();
    }
  });
  EXPECT_EQ(thread_count(), before) << "a worker thread started: a transaction step ran off the loop";
  EXPECT_EQ(main.scalar("SELECT count(*) FROM " + table).as<int>(), 90) << "90 committed, 10 rolled back";
  EXPECT_EQ(std::count(steps.begin(), steps.end(), "BEGIN"), 101);
  EXPECT_EQ(std::count(steps.begin(), steps.end(), "COMMIT"), 90);
  EXPECT_EQ(std::count(steps.begin(), steps.end(), "ROLLBACK"), 11);
  // PostgreSQL: a statement failed inside, the error swallowed, then COMMIT:
  // the server rolls back, and the commit says so as the blocking one does.
  if (ctx.name != "mysql") {
    std::string blocking_error, async_error;
    try {
      Transaction tx = main.begin();
      try {
        tx.execute("SELEC 1");
      } catch (const Error&) {
      }
      tx.commit();
    } catch (const Error& e) {
      blocking_error = e.what();
    }
    run([&]() -> awaitable<void> {
      AsyncTransaction tx = co_await async_begin(main);
      try {
        (void)co_await tx.execute("SELEC 1");
      } catch (const Error&) {
      }
      try {
        co_await tx.commit();
      } catch (const Error& e) {
        async_error = e.what();
      }
    });
    EXPECT_NE(blocking_error.find("rolled the transaction back"), std::string::npos) << blocking_error;
    EXPECT_EQ(async_error, blocking_error);
  }
}

// A connect that fails on the loop fails as the blocking connect does:
// refused at once, or timed out after connect_timeout while the loop goes on
// serving (a timer on the same thread keeps ticking).
TEST_P(Async, AConnectOnTheLoopIsRefusedOrTimesOutAsTheBlockingOneDoes) {
  if (ctx.name == "sqlite") GTEST_SKIP() << ctx.name << " connects on a worker";
  DatabaseConfig dc;
  auto down = *cfg.find("main");
  down.hosts.at(0).port = 1;
  dc.add("down", down);
  SilentServer listener;
  dc.add("silent", listener.pointed(*cfg.find("main"), "2"));
  Database ddb(dc);
  int ticks = 0;
  std::chrono::steady_clock::duration waited{};
  run([&]() -> awaitable<void> {
    try {
      (void)co_await async_select(ddb.connection("down"), "SELECT 1", {}, use_awaitable);
      ADD_FAILURE() << "a connect to a closed port succeeded";
    } catch (const ConnectionError& e) {
      EXPECT_TRUE(e.is_connection_refused()) << e.what();
      EXPECT_NE(std::string(e.what()).find("'down'"), std::string::npos) << e.what();
    }
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer tick(co_await asio::this_coro::executor);
    bool connecting = true;
    auto ticker = [&]() -> awaitable<void> {
      while (connecting) {
        tick.expires_after(50ms);
        co_await tick.async_wait(use_awaitable);
        ++ticks;
      }
    };
    asio::co_spawn(co_await asio::this_coro::executor, ticker(), asio::detached);
    const auto start = std::chrono::steady_clock::now();
    try {
      (void)co_await async_select(ddb.connection("silent"), "SELECT 1", {}, use_awaitable);
      ADD_FAILURE() << "a connect to a server that never answers succeeded";
    } catch (const ConnectionError& e) {
      EXPECT_TRUE(e.is_connection_timed_out()) << e.what();
      EXPECT_NE(std::string(e.what()).find("'silent'"), std::string::npos) << e.what();
    }
    waited = std::chrono::steady_clock::now() - start;
    connecting = false;
  });
  EXPECT_GE(waited, 1900ms);
  EXPECT_LT(waited, 6s);
  EXPECT_GE(ticks, 20) << "the loop was blocked while it connected";
  EXPECT_EQ(ddb.connection("silent").pool_stats().open, 0u) << "the slot of the failed connect is free again";
}

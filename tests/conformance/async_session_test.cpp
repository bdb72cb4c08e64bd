// The engine contract's non-blocking side (driver::AsyncSession), driven by a
// plain poll() loop on one thread: many statements in flight at once over
// several sessions, each result what execute() would return; errors, refused
// input and a server-side cancel behave as on the blocking side. The
// coroutine API (issue #35) is built on exactly these calls.
#include <poll.h>

#include <chrono>
#include <thread>

#include "conformance_fixture.hpp"
#include "plexus/driver/engine.hpp"

using namespace plexus;
using namespace plexus::test;
using Wait = driver::AsyncSession::Wait;

namespace {

class AsyncSessions : public Conformance {
 protected:
  void SetUp() override {
    Conformance::SetUp();
    if (IsSkipped()) return;
    conn = *cfg.find("main");
    ConnectionConfig& c = conn;
    engine = &driver::EngineRegistry::builtin().get(c.driver);
    if (ctx.name == "mysql") {
      // An encrypted MariaDB session has no non-blocking side (Connector/C
      // blocks in TLS): shown here, then the sessions below go unencrypted.
      options = driver::Options::parse(c, engine->options(), engine->name());
      auto encrypted = open();
      EXPECT_EQ(encrypted->async(), nullptr) << "an encrypted MariaDB session claimed a non-blocking side";
      c.options["sslmode"] = "disable";
    }
    options = driver::Options::parse(c, engine->options(), engine->name());
    auto probe = open();
    if (!probe->async())
      GTEST_SKIP() << engine->name() << " sessions have no non-blocking side yet (SQLite never will: it has no "
                   << "socket; its asynchronous calls are to run on a worker)";
  }
  std::unique_ptr<driver::Session> open() {
    const ConnectionConfig& c = conn;
    return engine->connect(driver::Target{c, options, c.hosts.empty() ? nullptr : &c.hosts.front()});
  }
  /// Drives every session's statement to its end from this one thread.
  static void drive(std::vector<driver::AsyncSession*>& in_flight, std::vector<Wait>& waits) {
    for (;;) {
      std::vector<pollfd> fds;
      std::vector<std::size_t> which;
      for (std::size_t i = 0; i < in_flight.size(); ++i)
        if (waits[i] != Wait::done) {
          fds.push_back({in_flight[i]->socket(), static_cast<short>(waits[i] == Wait::read ? POLLIN : POLLOUT), 0});
          which.push_back(i);
        }
      if (fds.empty()) return;
      ASSERT_GT(::poll(fds.data(), fds.size(), 10000), 0) << "no session became ready within 10 s";
      for (std::size_t k = 0; k < fds.size(); ++k)
        if (fds[k].revents) waits[which[k]] = in_flight[which[k]]->resume();
    }
  }
  /// start() with its values in a vector (start copies them before it returns).
  static Wait start(driver::AsyncSession* a, std::string_view sql, const std::vector<Value>& values = {}) {
    return a->start(sql, values);
  }
  /// A statement that sleeps `seconds` on the server and returns `?` as `tag`.
  [[nodiscard]] std::string sleep_sql(const char* seconds) const {
    return std::string(ctx.name == "mysql" ? "SELECT SLEEP(" : "SELECT pg_sleep(") + seconds + "), ? AS tag";
  }
  /// How many statements starting with `prefix` the server is running now.
  [[nodiscard]] std::int64_t running(driver::Session& watcher, const std::string& prefix) const {
    const std::string sql = ctx.name == "mysql"
        ? "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE ?"
        : "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE ?";
    const std::vector<Value> like{Value(prefix + "%")};
    return watcher.execute(sql, like)[0][0].as<std::int64_t>();
  }
  /// Runs `sql` and expects it refused with a UsageError: at start() (values
  /// checked before anything is sent) or, where the engine learns the
  /// statement's parameters only by preparing it (MariaDB), at take().
  void expect_refused(driver::AsyncSession* a, std::string_view sql, const std::vector<Value>& values) {
    Wait w;
    try {
      w = start(a, sql, values);
    } catch (const UsageError&) {
      return;
    }
    std::vector<driver::AsyncSession*> one{a};
    std::vector<Wait> waits{w};
    drive(one, waits);
    EXPECT_THROW((void)a->take(), UsageError) << sql;
  }
  ConnectionConfig conn;  // the connection the sessions open
  const driver::Engine* engine = nullptr;
  driver::Options options;
};

TEST_P(AsyncSessions, SixtyFourStatementsOverEightSessionsFromOneThread) {
  std::vector<std::unique_ptr<driver::Session>> sessions;
  for (int i = 0; i < 8; ++i) sessions.push_back(open());
  std::int64_t sum = 0, expected = 0;
  // Eight rounds; in each, every session has a statement in flight at once.
  // The first round prepares each statement (two round trips), the others
  // find it cached.
  for (int round = 0; round < 8; ++round) {
    std::vector<driver::AsyncSession*> in_flight;
    std::vector<Wait> waits;
    for (int i = 0; i < 8; ++i) {
      const std::int64_t n = round * 8 + i;
      expected += n * 2;
      in_flight.push_back(sessions[static_cast<std::size_t>(i)]->async());
      waits.push_back(start(in_flight.back(), "SELECT ? * 2 AS twice, ? AS label", {Value(n), Value("s" + std::to_string(n))}));
    }
    drive(in_flight, waits);
    for (int i = 0; i < 8; ++i) {
      Result r = in_flight[static_cast<std::size_t>(i)]->take();
      ASSERT_EQ(r.size(), 1u);
      EXPECT_EQ(r.columns().names()[0], "twice");
      sum += r[0][0].as<std::int64_t>();
      EXPECT_EQ(r[0][1].as<std::string>(), "s" + std::to_string(round * 8 + i));
    }
  }
  EXPECT_EQ(sum, expected);
  // The blocking side of the same session still works, with the same cache.
  EXPECT_EQ(sessions[0]->execute("SELECT ? * 2 AS twice, ? AS label", std::vector<Value>{Value(21), Value("x")})[0][0]
                .as<std::int64_t>(), 42);
}

TEST_P(AsyncSessions, StatementsAreInFlightTogetherOnTheServer) {
  // Four sleeps started from this thread are all running on the server
  // before any of them is awaited: one thread drives several statements.
  std::vector<std::unique_ptr<driver::Session>> sessions;
  std::vector<driver::AsyncSession*> in_flight;
  std::vector<Wait> waits;
  const std::string sql = sleep_sql("0.4");
  auto watcher = open();
  for (int i = 0; i < 4; ++i) {
    sessions.push_back(open());
    in_flight.push_back(sessions.back()->async());
    waits.push_back(start(in_flight.back(), sql, {Value("plexus-async-together")}));
  }
  // A statement that must first be prepared (MariaDB) needs its round trips
  // driven before it runs: drive for up to 0.2 s, well inside the sleep.
  std::int64_t seen = 0;
  for (int tries = 0; tries < 40 && seen < 4; ++tries) {
    std::vector<pollfd> fds;
    for (std::size_t i = 0; i < in_flight.size(); ++i)
      if (waits[i] != Wait::done)
        fds.push_back({in_flight[i]->socket(), static_cast<short>(waits[i] == Wait::read ? POLLIN : POLLOUT), 0});
    ::poll(fds.data(), fds.size(), 5);
    for (std::size_t i = 0, k = 0; i < in_flight.size(); ++i)
      if (waits[i] != Wait::done && fds[k++].revents) waits[i] = in_flight[i]->resume();
    seen = running(*watcher, sql.substr(0, sql.find(',')));
  }
  EXPECT_EQ(seen, 4) << "the four statements were not running at the same time";
  drive(in_flight, waits);
  for (auto* a : in_flight) EXPECT_EQ(a->take()[0][1].as<std::string>(), "plexus-async-together");
}

TEST_P(AsyncSessions, ErrorsAndRefusalsAreTheBlockingSidesAndTheSessionGoesOn) {
  auto s = open();
  auto* a = s->async();
  // A wrong bind count is refused, and nothing runs.
  expect_refused(a, "SELECT ? + ?", {Value(1)});
  // PostgreSQL cannot store a NUL byte in text: refused before it is sent.
  if (ctx.name != "mysql") {
    EXPECT_THROW((void)start(a, "SELECT ?", {Value(std::string("a\0b", 3))}), UsageError);
  }
  // A statement the server refuses: take() throws its error, naming the SQL.
  std::vector<driver::AsyncSession*> one{a};
  std::vector<Wait> waits{start(a, "SELECT * FROM plexus_no_such_table WHERE id = ?", {Value(1)})};
  drive(one, waits);
  try {
    (void)a->take();
    FAIL() << "a missing table was not an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), ctx.name == "mysql" ? "42S02" : "42P01");
    EXPECT_NE(std::string(e.what()).find("plexus_no_such_table"), std::string::npos) << e.what();
  }
  // Two statements at once on one session are refused; the first goes on.
  waits = {start(a, "SELECT 7")};
  EXPECT_THROW((void)start(a, "SELECT 8"), UsageError);
  EXPECT_FALSE(s->healthy()) << "a session with a statement in flight must not go back to a pool";
  drive(one, waits);
  EXPECT_EQ(a->take()[0][0].as<std::int64_t>(), 7);
  EXPECT_TRUE(s->healthy());
  EXPECT_THROW((void)a->take(), UsageError) << "a result is taken once";
}

TEST_P(AsyncSessions, ACachedStatementWhoseTableChangedShapeIsPreparedAgain) {
  auto s = open();
  auto* a = s->async();
  s->execute("DROP TABLE IF EXISTS plexus_async_shape", {});
  s->execute("CREATE TABLE plexus_async_shape (id INTEGER, name VARCHAR(20))", {});
  s->execute("INSERT INTO plexus_async_shape VALUES (1, 'a')", {});
  const std::string sql = "SELECT * FROM plexus_async_shape WHERE id = ?";
  const std::vector<Value> one_id{Value(1)};
  std::vector<driver::AsyncSession*> one{a};
  auto run_async = [&] {
    std::vector<Wait> waits{start(a, sql, one_id)};
    drive(one, waits);
    return a->take();
  };
  // The first run of a statement after its table changed shape may be
  // refused once (PostgreSQL: 0A000 on the non-blocking side; MariaDB: 2057
  // on both sides, after the statement ran); the statement then leaves the
  // cache and the next run sees the new columns, on a session still in step.
  auto columns_within_two_runs = [&](const std::function<Result()>& run) -> std::size_t {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        return run().columns().size();
      } catch (const Error& e) {
        if (ctx.name == "mysql") EXPECT_EQ(e.engine_code(), 2057) << e.what();
        else EXPECT_EQ(e.sqlstate(), "0A000") << e.what();
      }
    }
    return 0;
  };
  EXPECT_EQ(run_async().columns().size(), 2u);  // prepared and cached
  s->execute("ALTER TABLE plexus_async_shape ADD COLUMN extra INTEGER", {});
  EXPECT_EQ(columns_within_two_runs(run_async), 3u);
  // The blocking side of the same session, with the same cache.
  EXPECT_EQ(s->execute(sql, one_id).columns().size(), 3u);
  s->execute("ALTER TABLE plexus_async_shape DROP COLUMN extra", {});
  EXPECT_EQ(columns_within_two_runs([&] { return s->execute(sql, one_id); }), 2u);
  s->execute("DROP TABLE plexus_async_shape", {});
}

TEST_P(AsyncSessions, CancelStopsTheStatementOnTheServer) {
  auto s = open();
  auto* a = s->async();
  const std::string sql = sleep_sql("30");
  std::vector<driver::AsyncSession*> one{a};
  std::vector<Wait> waits{start(a, sql, {Value("plexus-async-cancel")})};
  auto watcher = open();
  for (int tries = 0; tries < 100 && running(*watcher, sql.substr(0, sql.find(','))) == 0; ++tries) {
    pollfd fd{a->socket(), static_cast<short>(waits[0] == Wait::read ? POLLIN : POLLOUT), 0};
    if (waits[0] != Wait::done && ::poll(&fd, 1, 10) > 0) waits[0] = a->resume();
  }
  ASSERT_EQ(running(*watcher, sql.substr(0, sql.find(','))), 1) << "the statement never started";
  a->cancel();
  drive(one, waits);
  // The statement ends with an error (or, where the engine ends an
  // interrupted SLEEP() normally, with its 1): over, long before 30 s.
  try {
    Result r = a->take();
    EXPECT_EQ(r[0][0].as<std::int64_t>(), 1) << "the sleep ran to its end";
  } catch (const Error& e) {
    // The engine's own word for it: PostgreSQL's query_canceled, MariaDB's
    // "query execution was interrupted" (1317).
    EXPECT_EQ(e.sqlstate(), ctx.name == "mysql" ? "70100" : "57014") << e.what();
  }
  EXPECT_EQ(running(*watcher, sql.substr(0, sql.find(','))), 0);
  // The session is clean afterwards.
  waits = {start(a, "SELECT 1")};
  drive(one, waits);
  EXPECT_EQ(a->take()[0][0].as<std::int64_t>(), 1);
}

INSTANTIATE_TEST_SUITE_P(Engines, AsyncSessions, ::testing::Values("sqlite", "postgres", "pgbouncer", "mysql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace

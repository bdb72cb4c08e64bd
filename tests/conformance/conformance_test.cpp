// One conformance suite for every engine (SOCI's test-context idea): each test
// runs on sqlite, postgres (direct and through pgbouncer) and mysql. A server
// whose URL is not in the environment makes its tests SKIPPED, with the reason.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "conformance_fixture.hpp"

using namespace plexus;
using namespace plexus::test;
using namespace std::chrono;
namespace fs = std::filesystem;

TEST_P(Conformance, TypesRoundTrip) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, b " + ctx.boolean + ", i " + ctx.bigint +
                ", r " + ctx.real + ", t " + ctx.text + ", y " + ctx.blob + ", d " + ctx.date + ", tm " + ctx.time +
                ", ts " + ctx.timestamp + ")");
  const auto ts = Timestamp(sys_days(year{2024} / 2 / 29)) + hours{23} + minutes{59} + seconds{58} + microseconds{654321};
  const Bytes bytes(std::vector<std::uint8_t>{0x00, 0x01, 0x7f, 0x80, 0xff, 0x00});
  const std::string unicode = "Grüße, 世界 🌍 'quoted' \"double\" \\ back";
  const Time tm{hours{7} + minutes{6} + seconds{5} + microseconds{4}};
  const std::string insert = "INSERT INTO " + table + " (id, b, i, r, t, y, d, tm, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
  conn->execute(insert, {1, true, std::numeric_limits<std::int64_t>::max(), 3.25, unicode, bytes,
                         Date{year{1999} / 12 / 31}, tm, ts});
  conn->execute(insert, {2, false, std::numeric_limits<std::int64_t>::min(), -1e300, "", Bytes{}, nullptr, nullptr, nullptr});
  conn->execute(insert, {3, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr});

  auto r = conn->select("SELECT id, b, i, r, t, y, d, tm, ts FROM " + table + " ORDER BY id");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0]["b"].as<bool>());
  EXPECT_EQ(r[0]["i"].as<std::int64_t>(), std::numeric_limits<std::int64_t>::max());
  EXPECT_DOUBLE_EQ(r[0]["r"].as<double>(), 3.25);
  EXPECT_EQ(r[0]["t"].as<std::string>(), unicode);
  EXPECT_EQ(r[0]["y"].as<Bytes>(), bytes);
  EXPECT_EQ(r[0]["d"].as<Date>(), (Date{year{1999} / 12 / 31}));
  EXPECT_EQ(r[0]["tm"].as<Time>(), tm);
  EXPECT_EQ(r[0]["ts"].as<Timestamp>(), ts);

  EXPECT_FALSE(r[1]["b"].as<bool>());
  EXPECT_EQ(r[1]["i"].as<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_DOUBLE_EQ(r[1]["r"].as<double>(), -1e300);
  EXPECT_EQ(r[1]["t"].as<std::string>(), "");
  EXPECT_TRUE(r[1]["y"].as<Bytes>().data.empty());

  for (std::size_t c = 1; c < r.columns().size(); ++c) EXPECT_TRUE(r[2][c].is_null()) << r.columns()[c];
}

TEST_P(Conformance, PlaceholdersAreBoundNeverSpliced) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, t " + ctx.text + ")");
  const std::string evil = "x'); DROP TABLE " + table + "; --";
  conn->execute("INSERT INTO " + table + " (id, t) VALUES (?, ?)", {1, evil});
  EXPECT_EQ(conn->scalar("SELECT t FROM " + table + " WHERE t = ?", {evil}).as<std::string>(), evil);
  // A question mark inside a literal is not a placeholder.
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table + " WHERE t <> 'what?' AND id = ?", {1}).as<int>(), 1);
}

TEST_P(Conformance, AffectedRowsAndGeneratedIds) {
  std::string auto_id = ctx.name == "sqlite" ? "INTEGER PRIMARY KEY"
                        : ctx.name == "mysql" ? "BIGINT AUTO_INCREMENT PRIMARY KEY"
                                              : "BIGSERIAL PRIMARY KEY";
  conn->execute("CREATE TABLE " + table + " (id " + auto_id + ", n INTEGER)");
  for (int i = 0; i < 5; ++i) conn->execute("INSERT INTO " + table + " (n) VALUES (?)", {i});
  auto upd = conn->execute("UPDATE " + table + " SET n = n + 100 WHERE n >= ?", {2});
  EXPECT_EQ(upd.affected_rows(), 3u);
  auto del = conn->execute("DELETE FROM " + table + " WHERE n < ?", {100});
  EXPECT_EQ(del.affected_rows(), 2u);
  if (ctx.name == "postgres" || ctx.name == "pgbouncer") {
    auto ret = conn->execute("INSERT INTO " + table + " (n) VALUES (?) RETURNING id", {7});
    EXPECT_EQ(ret[0]["id"].as<std::int64_t>(), 6);
  } else {
    auto ins = conn->execute("INSERT INTO " + table + " (n) VALUES (?)", {7});
    EXPECT_EQ(ins.last_insert_id(), 6);
  }
}

TEST_P(Conformance, DuplicateKeyIsAConstraintViolation) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, t " + ctx.text + ")");
  conn->execute("INSERT INTO " + table + " (id, t) VALUES (?, ?)", {1, "a"});
  try {
    conn->execute("INSERT INTO " + table + " (id, t) VALUES (?, ?)", {1, "secret-value"});
    FAIL() << "duplicate accepted";
  } catch (const ConstraintError& e) {
    EXPECT_TRUE(e.is_constraint_violation());
    EXPECT_FALSE(e.is_connection_lost());
    EXPECT_EQ(e.connection(), "main");
    EXPECT_EQ(e.sqlstate().substr(0, 2), "23") << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret-value"), std::string::npos);
  }
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), 1) << "the connection is usable afterwards";
}

TEST_P(Conformance, SyntaxErrorIsClassified) {
  try {
    (void)conn->select("SELEC 1");
    FAIL();
  } catch (const SyntaxError& e) {
    EXPECT_TRUE(e.is_syntax());
    EXPECT_NE(std::string(e.what()).find("SELEC 1"), std::string::npos) << e.what();
  }
  try {
    (void)conn->select("SELECT * FROM no_such_table_anywhere");
    FAIL();
  } catch (const SyntaxError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_table_anywhere"), std::string::npos) << e.what();
  }
  EXPECT_EQ(conn->scalar("SELECT 1").as<int>(), 1);
}

TEST_P(Conformance, CommitAndRollback) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY)");
  conn->transaction([&](Transaction& tx) { tx.execute("INSERT INTO " + table + " (id) VALUES (?)", {1}); });
  EXPECT_THROW(conn->transaction([&](Transaction& tx) {
    tx.execute("INSERT INTO " + table + " (id) VALUES (?)", {2});
    EXPECT_EQ(tx.scalar("SELECT count(*) FROM " + table).as<int>(), 2) << "a transaction sees its own writes";
    throw std::runtime_error("abort");
  }),
               std::runtime_error);
  conn->transaction([&](Transaction& tx) {
    tx.execute("INSERT INTO " + table + " (id) VALUES (?)", {3});
    EXPECT_THROW(tx.transaction([&](Transaction& inner) {
      inner.execute("INSERT INTO " + table + " (id) VALUES (?)", {4});
      throw std::runtime_error("inner");
    }),
                 std::runtime_error);
  });
  auto r = conn->select("SELECT id FROM " + table + " ORDER BY id");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][0].as<int>(), 1);
  EXPECT_EQ(r[1][0].as<int>(), 3);
}

TEST_P(Conformance, ConstraintErrorInsideTransactionRollsBackEverything) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY)");
  EXPECT_THROW(conn->transaction([&](Transaction& tx) {
    tx.execute("INSERT INTO " + table + " (id) VALUES (?)", {1});
    tx.execute("INSERT INTO " + table + " (id) VALUES (?)", {1});
  }),
               ConstraintError);
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), 0);
}

TEST_P(Conformance, StreamsOneHundredThousandRowsInFlatMemory) {
  const std::string sql = series(100000, ", '" + std::string(300, 'x') + "' AS pad");
  std::uint64_t hooked = 0;
  conn->on_after_query([&](const QueryEvent& e) { hooked = e.rows; });
  auto cur = conn->cursor(sql);
  std::size_t before = 0, peak = 0;
  std::int64_t sum = 0;
  std::size_t n = 0;
  for (const Row row : cur) {
    sum += row[0].as<std::int64_t>();
    ASSERT_EQ(row[1].text_view().size(), 300u);
    if (++n == 1000) before = rss_bytes();
    if (n % 10000 == 0) peak = std::max(peak, rss_bytes());
  }
  EXPECT_EQ(n, 100000u);
  EXPECT_EQ(sum, std::int64_t{100000} * 100001 / 2);
  EXPECT_EQ(hooked, 100000u);
  // Materialised, the rows would take > 30 MB; streamed, memory stays flat.
  // (AddressSanitizer keeps freed memory in quarantine, so RSS says nothing there.)
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(peak - std::min(peak, before), std::size_t{8} << 20) << "RSS grew while streaming";
#else
  (void)before;
#endif
}

TEST_P(Conformance, AbandonedCursorLeavesTheConnectionUsable) {
  {
    auto cur = conn->cursor(series(50000));
    ASSERT_TRUE(cur.next());
    EXPECT_EQ(cur.row()[0].as<int>(), 1);
  }
  EXPECT_EQ(conn->scalar("SELECT 2").as<int>(), 2);
  EXPECT_EQ(conn->pool_stats().in_use, 0u);
}

TEST_P(Conformance, ThreadsEachWithTheirOwnSession) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, th INTEGER)");
  constexpr int kThreads = 4, kRows = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kRows; ++i) {
          conn->execute("INSERT INTO " + table + " (id, th) VALUES (?, ?)", {t * kRows + i, t});
          if (conn->scalar("SELECT count(*) FROM " + table + " WHERE th = ?", {t}).as<int>() != i + 1) ++failures;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), kThreads * kRows);
}

TEST_P(Conformance, KilledConnectionIsConnectionLostAndTheNextQueryReconnects) {
  if (ctx.own_session_id.empty()) GTEST_SKIP() << ctx.name << " has no server session to kill";
  std::string error_kind;
  try {
    conn->transaction([&](Transaction& tx) {
      auto id = tx.scalar(ctx.own_session_id).as<std::int64_t>();
      conn->query(ctx.kill_session, {id}, Intent::write);  // from another session of the pool
      std::this_thread::sleep_for(milliseconds(50));
      (void)tx.select("SELECT 1");
    });
    FAIL() << "a query on a killed session succeeded";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is_connection_lost()) << e.what();
    EXPECT_EQ(e.connection(), "main");
  }
  EXPECT_EQ(conn->scalar("SELECT 3").as<int>(), 3) << "a fresh session replaces the dead one";
}

TEST_P(Conformance, WriteToReadOnlyReplicaIsAReadOnlyViolation) {
  if (ctx.name == "sqlite") {
    DatabaseConfig local_cfg;
    auto& ro = local_cfg.add("replica", sqlite((dir / "main.db").string()));
    ro.read_only = true;
    conn->execute("CREATE TABLE " + table + " (id INTEGER)");
    Database rdb(local_cfg);
    EXPECT_THROW(rdb.connection("replica").query("INSERT INTO " + table + " VALUES (1)", {}, Intent::read), ReadOnlyError);
    return;
  }
  if (!db->has_connection("replica")) GTEST_SKIP() << ctx.replica_env << " is not set";
  auto& replica = db->connection("replica");
  try {
    // Intent::read gets past Plexus's own check, so the server must refuse.
    replica.query("CREATE TABLE " + table + " (id INTEGER)", {}, Intent::read);
    FAIL() << "the replica accepted a write";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is_read_only_violation()) << e.what();
    EXPECT_EQ(e.connection(), "replica");
  }
}

TEST_P(Conformance, PingVersionAndHealth) {
  conn->ping();
  EXPECT_TRUE(conn->is_connected());
  auto v = conn->server_version();
  EXPECT_FALSE(v.empty());
  auto h = conn->health();
  EXPECT_TRUE(h.healthy);
  EXPECT_EQ(h.type, ctx.name == "pgbouncer" ? "postgres" : ctx.name);
  EXPECT_TRUE(h.hosts.at(0).reachable);
  EXPECT_FALSE(h.hosts.at(0).server_version.empty());
  EXPECT_LT(h.hosts.at(0).latency, std::chrono::seconds(10));
}

TEST_P(Conformance, UnreachableServerIsAClearConnectionError) {
  if (ctx.name == "sqlite") GTEST_SKIP() << "sqlite has no server";
  DatabaseConfig local_cfg;
  std::string url = ctx.name == "mysql" ? "mysql://plexus:pw-not-shown@127.0.0.1:1/plexus"
                                        : "postgresql://plexus:pw-not-shown@127.0.0.1:1/plexus";
  local_cfg.add("down", url);
  Database ddb(local_cfg);
  try {
    (void)ddb.connection("down").select("SELECT 1");
    FAIL();
  } catch (const ConnectionError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("connection 'down'"), std::string::npos) << w;
    EXPECT_NE(w.find("127.0.0.1:1"), std::string::npos) << w;
    EXPECT_EQ(w.find("pw-not-shown"), std::string::npos) << w;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, Conformance, ::testing::Values("sqlite", "postgres", "pgbouncer", "mysql"),
                         [](const auto& p) { return p.param; });

TEST_P(Conformance, DeadlockIsRetryable) {
  if (ctx.name == "sqlite") GTEST_SKIP() << "SQLite has one writer at a time: no deadlocks";
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER)");
  conn->execute("INSERT INTO " + table + " (id, v) VALUES (1, 0), (2, 0)");
  std::atomic<int> retryable{0}, other{0};
  auto worker = [&](int first, int second) {
    try {
      conn->transaction([&](Transaction& tx) {
        tx.execute("UPDATE " + table + " SET v = v + 1 WHERE id = ?", {first});
        std::this_thread::sleep_for(milliseconds(300));
        tx.execute("UPDATE " + table + " SET v = v + 1 WHERE id = ?", {second});
      });
    } catch (const Error& e) {
      (e.is_retryable() ? retryable : other)++;
      if (!e.is_retryable()) ADD_FAILURE() << e.what();
    }
  };
  std::thread a(worker, 1, 2), b(worker, 2, 1);
  a.join();
  b.join();
  EXPECT_EQ(retryable.load(), 1) << "exactly one side of the deadlock is chosen as victim";
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(conn->scalar("SELECT SUM(v) FROM " + table).as<int>(), 2) << "the survivor committed both updates";
}

// libpq multi-host lists and application_name are PostgreSQL features: one plain test.
TEST(Postgres, MultiHostUrlAndApplicationName) {
  std::string env_url = test::env_or_empty("PLEXUS_TEST_PG_URL");
  if (env_url.empty()) GTEST_SKIP() << "PLEXUS_TEST_PG_URL is not set: run ./scripts/test";
  auto url = parse_url(env_url);
  // A dead first host: libpq moves on to the next one in the list.
  std::string multi = "postgresql://" + url.username + ":" + url.password + "@127.0.0.1:1,127.0.0.1:" +
                      std::to_string(url.hosts.at(0).port) + "/" + url.database + "?application_name=plexus-conf";
  DatabaseConfig local_cfg;
  local_cfg.add("multi", multi);
  Database mdb(local_cfg);
  EXPECT_EQ(mdb.connection("multi").scalar("SELECT current_setting('application_name')").as<std::string>(), "plexus-conf");
  DatabaseConfig plain;
  plain.add("plain", env_url);
  Database pdb(plain);
  EXPECT_EQ(pdb.connection("plain").scalar("SELECT current_setting('application_name')").as<std::string>(), "plexus")
      << "the default";
}

TEST_P(Conformance, QueryTimeoutIsEnforcedByTheClient) {
  DatabaseConfig local_cfg;
  ConnectionConfig timed = *cfg.find("main");
  timed.query_timeout = milliseconds(300);
  local_cfg.add("timed", timed);
  Database tdb(local_cfg);
  auto& c = tdb.connection("timed");
  auto start = steady_clock::now();
  try {
    (void)c.select(ctx.slow_sql);
    FAIL() << "the slow statement finished within its timeout";
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(e.is_timeout());
    EXPECT_EQ(e.connection(), "timed");
    EXPECT_NE(std::string(e.what()).find("query_timeout_ms"), std::string::npos) << e.what();
  }
  // MariaDB's client counts whole seconds, up to three reads: allow for that.
  EXPECT_LT(steady_clock::now() - start, seconds(5)) << "the client must not wait for the server";
  EXPECT_EQ(c.scalar("SELECT 1").as<int>(), 1) << "a fresh session replaces the timed-out one";
}

TEST_P(Conformance, SelectBatchReturnsOneResultPerSetInOrder) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, t " + ctx.text + ")");
  std::vector<std::vector<Value>> rows;
  for (int i = 1; i <= 300; ++i) rows.push_back({i, "row-" + std::to_string(i)});
  auto written = conn->execute_batch("INSERT INTO " + table + " (id, t) VALUES (?, ?)", rows);
  ASSERT_EQ(written.size(), 300u);
  EXPECT_EQ(written[0].affected_rows(), 1u);

  // More sets than one pipeline chunk, with a miss in the middle, in a scrambled order.
  std::vector<std::vector<Value>> keys;
  std::uint64_t hits = 0;
  for (int i = 0; i < 300; ++i) {
    int id = (i * 7) % 301 + (i == 150 ? 1000 : 0);  // 0 (a miss) every 43 steps, and 1000+ once
    keys.push_back({id});
    hits += id >= 1 && id <= 300;
  }
  ASSERT_LT(hits, 300u);
  std::vector<std::uint64_t> rows_seen;
  conn->on_after_query([&](const QueryEvent& e) { rows_seen.push_back(e.rows); });
  auto results = conn->select_batch("SELECT id, t FROM " + table + " WHERE id = ?", keys);
  ASSERT_EQ(results.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto id = keys[i][0].as<int>();
    if (id < 1 || id > 300) {
      EXPECT_TRUE(results[i].empty()) << id;
      continue;
    }
    ASSERT_EQ(results[i].size(), 1u) << id;
    EXPECT_EQ(results[i][0]["id"].as<int>(), id);
    EXPECT_EQ(results[i][0]["t"].as<std::string>(), "row-" + std::to_string(id));
  }
  ASSERT_EQ(rows_seen.size(), 1u) << "a batch is one query event";
  EXPECT_EQ(rows_seen[0], hits);
  EXPECT_TRUE(conn->select_batch("SELECT id FROM " + table + " WHERE id = ?", {}).empty());
}

TEST_P(Conformance, BatchErrorsNameTheStatementAndWritesAreAllOrNothing) {
  conn->execute("CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, t " + ctx.text + ")");
  const std::string insert = "INSERT INTO " + table + " (id, t) VALUES (?, ?)";
  // The third set repeats a key: nothing of the batch may stay.
  try {
    (void)conn->execute_batch(insert, {{1, "a"}, {2, "b"}, {1, "again"}, {3, "c"}});
    FAIL() << "a duplicate key must fail the batch";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::constraint) << e.what();
    EXPECT_NE(std::string(e.what()).find(table), std::string::npos) << e.what();
  }
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), 0);

  // A read batch whose statement is broken fails clearly, and the session stays usable.
  EXPECT_THROW((void)conn->select_batch("SELECT nope FROM " + table + " WHERE id = ?", {{1}, {2}}), Error);
  EXPECT_THROW((void)conn->select_batch("SELECT id FROM " + table + " WHERE id = ?", {{1}, {2, 3}}), Error);
  (void)conn->execute_batch(insert, {{1, "a"}, {2, "b"}});
  auto r = conn->select_batch("SELECT t FROM " + table + " WHERE id = ?", {{2}, {1}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][0][0].as<std::string>(), "b");
  EXPECT_EQ(r[1][0][0].as<std::string>(), "a");

  // Inside a transaction a batch joins it and rolls back with it.
  try {
    conn->transaction([&](Transaction& tx) {
      (void)tx.execute_batch(insert, {{10, "x"}, {11, "y"}});
      EXPECT_EQ(tx.select_batch("SELECT t FROM " + table + " WHERE id = ?", {{11}})[0][0][0].as<std::string>(), "y");
      throw std::runtime_error("undo");
    });
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table).as<int>(), 2);
}

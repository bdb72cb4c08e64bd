// The db/ layer on SQLite: registry, hooks, transactions, pool, errors.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <filesystem>
#include <thread>

#include "plexus/plexus.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("plexus_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    DatabaseConfig cfg;
    cfg.add("db_one", sqlite((dir / "one.db").string()));
    cfg.add("db_two", sqlite((dir / "two.db").string()));
    cfg.default_connection = "db_one";
    db = std::make_unique<Database>(cfg);
    db->connection("db_one").execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)");
    db->connection("db_two").execute("CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
  }
  void TearDown() override {
    db.reset();
    fs::remove_all(dir);
  }
  fs::path dir;
  std::unique_ptr<Database> db;
};

}  // namespace

TEST_F(DatabaseTest, EachConnectionIsItsOwnDatabaseFile) {
  db->connection("db_one").execute("INSERT INTO products (name) VALUES (?)", {"Keyboard"});
  db->connection("db_two").execute("INSERT INTO categories (name) VALUES (?)", {"Peripherals"});
  EXPECT_EQ(db->connection("db_one").scalar("SELECT count(*) FROM products").as<int>(), 1);
  EXPECT_THROW(db->connection("db_two").select("SELECT * FROM products"), SyntaxError);
  EXPECT_EQ(db->connection("db_two").scalar("SELECT name FROM categories").as<std::string>(), "Peripherals");
  EXPECT_TRUE(fs::exists(dir / "one.db"));
  EXPECT_TRUE(fs::exists(dir / "two.db"));
}

TEST_F(DatabaseTest, UnknownConnectionListsTheConfiguredNames) {
  try {
    (void)db->connection("analytcs");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_TRUE(e.is_config());
    EXPECT_NE(std::string(e.what()).find("unknown connection 'analytcs' (configured: db_one, db_two)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(db->connection().name(), "db_one");
  EXPECT_EQ(db->connection().type(), "sqlite");
}

TEST_F(DatabaseTest, LazyConnectAndHealth) {
  auto& two = db->connection("db_two");
  EXPECT_TRUE(two.is_connected());  // SetUp ran DDL
  DatabaseConfig cfg;
  cfg.add("lazy", sqlite((dir / "lazy.db").string()));
  Database lazy(cfg);
  EXPECT_EQ(lazy.connection("lazy").pool_stats().open, 0u);
  EXPECT_FALSE(fs::exists(dir / "lazy.db")) << "nothing is opened before first use";
  auto before = lazy.health();
  ASSERT_EQ(before.size(), 1u);
  // A file not made yet is a new database, not a broken one: a fresh project is healthy.
  EXPECT_TRUE(before[0].healthy);
  EXPECT_EQ(before[0].status(), "healthy");
  EXPECT_FALSE(before[0].connected);
  EXPECT_FALSE(before[0].hosts.at(0).created);
  EXPECT_NE(before[0].hosts.at(0).note.find("does not exist yet"), std::string::npos) << before[0].hosts.at(0).note;
  EXPECT_FALSE(fs::exists(dir / "lazy.db")) << "a health check never creates a database";
  lazy.connection("lazy").execute("CREATE TABLE t (x INTEGER)");
  auto h = lazy.health();
  ASSERT_EQ(h.size(), 1u);
  EXPECT_TRUE(h[0].healthy);
  EXPECT_TRUE(h[0].connected) << "it answered: a session is open";
  EXPECT_TRUE(h[0].hosts.at(0).created);
  EXPECT_EQ(h[0].hosts.at(0).role, "primary");
  EXPECT_NE(h[0].hosts.at(0).host.find("lazy.db"), std::string::npos);
  EXPECT_TRUE(lazy.connection("lazy").is_connected());
}

TEST_F(DatabaseTest, HooksSeeConnectionRoleHostDurationAndRows) {
  std::vector<std::string> seen;
  std::uint64_t rows = 0;
  db->on_before_query([&](const QueryEvent& e) { seen.push_back("before " + std::string(e.connection) + " " + std::string(e.sql)); });
  db->connection("db_one").on_after_query([&](const QueryEvent& e) {
    seen.push_back("after " + std::string(e.connection) + " " + std::string(e.role));
    rows = e.rows;
    EXPECT_NE(e.host.find("one.db"), std::string::npos);
    EXPECT_GE(e.duration.count(), 0);
    ASSERT_EQ(e.bindings.size(), 1u);
    EXPECT_EQ(e.bindings[0].as<std::string>(), "Mouse");
  });
  db->connection("db_one").execute("INSERT INTO products (name) VALUES (?)", {"Mouse"});
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "before db_one INSERT INTO products (name) VALUES (?)");
  EXPECT_EQ(seen[1], "after db_one primary");
  EXPECT_EQ(rows, 1u);
}

TEST_F(DatabaseTest, ErrorHookAndErrorContext) {
  std::string hooked;
  db->on_error([&](const QueryEvent& e) { hooked = std::string(e.connection) + ": " + e.error->message(); });
  db->connection("db_one").execute("INSERT INTO products (name) VALUES (?)", {"Dup"});
  try {
    db->connection("db_one").execute("INSERT INTO products (name) VALUES (?)", {"Dup"});
    FAIL();
  } catch (const ConstraintError& e) {
    EXPECT_TRUE(e.is_constraint_violation());
    EXPECT_EQ(e.connection(), "db_one");
    EXPECT_EQ(e.role(), "primary");
    EXPECT_EQ(e.sqlstate(), "23505");
    EXPECT_NE(std::string(e.what()).find("INSERT INTO products"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("Dup"), std::string::npos) << "bound values never appear in errors";
  }
  EXPECT_NE(hooked.find("db_one: UNIQUE constraint failed"), std::string::npos) << hooked;
}

TEST_F(DatabaseTest, SlowQueryHookFiltersByDuration) {
  int slow = 0, all = 0;
  auto& c = db->connection("db_one");
  c.on_slow_query(std::chrono::hours(1), [&](const QueryEvent&) { ++slow; });
  c.on_slow_query(std::chrono::nanoseconds(-1), [&](const QueryEvent&) { ++all; });
  (void)c.select("SELECT 1");
  EXPECT_EQ(slow, 0);
  EXPECT_EQ(all, 1);
}

TEST_F(DatabaseTest, RedactedBindingsAreHiddenFromHooks) {
  auto& c = db->connection("db_one");
  c.redact_bindings(true);
  bool redacted = false;
  std::size_t n = 99;
  c.on_after_query([&](const QueryEvent& e) {
    redacted = e.bindings_redacted;
    n = e.bindings.size();
  });
  c.execute("INSERT INTO products (name) VALUES (?)", {"secret-name"});
  EXPECT_TRUE(redacted);
  EXPECT_EQ(n, 0u);
}

TEST_F(DatabaseTest, TransactionCommitsOnReturnAndRollsBackOnThrow) {
  auto& c = db->connection("db_one");
  auto id = c.transaction([](Transaction& tx) {
    return tx.execute("INSERT INTO products (name) VALUES (?)", {"A"}).last_insert_id().value();
  });
  EXPECT_GT(id, 0);
  EXPECT_THROW(c.transaction([](Transaction& tx) {
    tx.execute("INSERT INTO products (name) VALUES (?)", {"B"});
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM products").as<int>(), 1);
}

TEST_F(DatabaseTest, NestedTransactionsUseSavepoints) {
  auto& c = db->connection("db_one");
  c.transaction([](Transaction& tx) {
    tx.execute("INSERT INTO products (name) VALUES ('outer')");
    EXPECT_THROW(tx.transaction([](Transaction& inner) {
      inner.execute("INSERT INTO products (name) VALUES ('inner')");
      throw std::runtime_error("inner fails");
    }),
                 std::runtime_error);
    tx.transaction([](Transaction& inner) { inner.execute("INSERT INTO products (name) VALUES ('inner2')"); });
  });
  auto r = c.select("SELECT name FROM products ORDER BY id");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]["name"].as<std::string>(), "outer");
  EXPECT_EQ(r[1]["name"].as<std::string>(), "inner2");
}

TEST_F(DatabaseTest, TransactionEventsCarryTheTransactionId) {
  auto& c = db->connection("db_one");
  std::vector<std::uint64_t> ids;
  c.on_after_query([&](const QueryEvent& e) { ids.push_back(e.transaction_id); });
  c.transaction([](Transaction& tx) { tx.execute("INSERT INTO products (name) VALUES ('x')"); });
  (void)c.select("SELECT 1");
  ASSERT_EQ(ids.size(), 4u);  // BEGIN, INSERT, COMMIT, SELECT
  EXPECT_NE(ids[0], 0u);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[1], ids[2]);
  EXPECT_EQ(ids[3], 0u);
}

TEST_F(DatabaseTest, ManualTransactionRollsBackIfAbandoned) {
  auto& c = db->connection("db_one");
  {
    auto tx = c.begin();
    tx.execute("INSERT INTO products (name) VALUES ('abandoned')");
  }
  EXPECT_EQ(c.scalar("SELECT count(*) FROM products").as<int>(), 0);
  auto tx = c.begin();
  tx.commit();
  EXPECT_THROW(tx.commit(), UsageError);
}

TEST_F(DatabaseTest, ReadOnlyConnectionRefusesWritesClientSide) {
  DatabaseConfig cfg;
  auto& ro = cfg.add("analytics", sqlite((dir / "one.db").string()));
  ro.read_only = true;
  Database rdb(cfg);
  auto& c = rdb.connection("analytics");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM products").as<int>(), 0);
  try {
    c.execute("INSERT INTO products (name) VALUES ('x')");
    FAIL();
  } catch (const ReadOnlyError& e) {
    EXPECT_NE(std::string(e.what()).find("connection 'analytics'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("read_only"), std::string::npos) << e.what();
  }
  // A write disguised as a read is still refused, by the engine.
  EXPECT_THROW(c.query("INSERT INTO products (name) VALUES ('x')", {}, Intent::read), ReadOnlyError);
  // insert_get_id is refused before it runs (a transaction cannot even begin
  // on a read-only SQLite file; the routing tests cover one on the servers).
  try {
    (void)c.table("products").insert_get_id({{"name", "y"}});
    FAIL();
  } catch (const ReadOnlyError& e) {
    EXPECT_NE(std::string(e.what()).find("configured read_only"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.scalar("SELECT count(*) FROM products").as<int>(), 0);
}

TEST_F(DatabaseTest, CursorStreamsAndReleasesTheSession) {
  auto& c = db->connection("db_one");
  c.transaction([](Transaction& tx) {
    for (int i = 0; i < 500; ++i) tx.execute("INSERT INTO products (name) VALUES (?)", {"p" + std::to_string(i)});
  });
  std::uint64_t hooked_rows = 0;
  c.on_after_query([&](const QueryEvent& e) { hooked_rows = e.rows; });
  auto cur = c.cursor("SELECT id, name FROM products WHERE id > ? ORDER BY id", {100});
  std::int64_t sum = 0;
  std::size_t n = 0;
  for (const Row row : cur) {
    sum += row.get<std::int64_t>("id");
    ++n;
  }
  EXPECT_EQ(n, 400u);
  EXPECT_EQ(sum, (101 + 500) * 400 / 2);
  EXPECT_EQ(hooked_rows, 400u);
  EXPECT_EQ(c.pool_stats().in_use, 0u) << "an exhausted cursor gives its session back";
}

TEST_F(DatabaseTest, PoolTimeoutNamesConnectionAndStats) {
  DatabaseConfig cfg;
  auto& one = cfg.add("tiny", sqlite((dir / "tiny.db").string()));
  one.pool.max = 1;
  one.pool.acquire_timeout = std::chrono::milliseconds(50);
  Database tdb(cfg);
  auto& c = tdb.connection("tiny");
  auto tx = c.begin();
  try {
    (void)c.select("SELECT 1");
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_TRUE(e.is_timeout());
    std::string w = e.what();
    EXPECT_NE(w.find("connection 'tiny'"), std::string::npos) << w;
    EXPECT_NE(w.find("open 1/1"), std::string::npos) << w;
    EXPECT_NE(w.find("pool.max"), std::string::npos) << w;
  }
  tx.rollback();
  EXPECT_EQ(c.scalar("SELECT 1").as<int>(), 1);
  EXPECT_EQ(c.pool_stats().timeouts, 1u);
}

TEST_F(DatabaseTest, ThreadsShareAConnectionSafely) {
  auto& c = db->connection("db_one");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        c.execute("INSERT INTO products (name) VALUES (?)", {"t" + std::to_string(t) + "-" + std::to_string(i)});
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.scalar("SELECT count(*) FROM products").as<int>(), 200);
  EXPECT_LE(c.pool_stats().open, c.config().pool.max);
}

TEST_F(DatabaseTest, ParameterCountMismatchIsAUsageError) {
  try {
    (void)db->connection("db_one").select("SELECT * FROM products WHERE id = ? AND name = ?", {1});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("2 placeholder(s) but 1 value(s)"), std::string::npos) << e.what();
  }
}

TEST_F(DatabaseTest, ScriptsWithoutParametersRunWhole) {
  auto& c = db->connection("db_two");
  EXPECT_THROW(c.execute("INSERT INTO categories (name) VALUES ('a'); INSERT INTO categories (name) VALUES ('b');"),
               UsageError)
      << "execute() runs one statement";
  EXPECT_EQ(c.scalar("SELECT count(*) FROM categories").as<int>(), 0) << "and refuses several before running any";
  EXPECT_EQ(c.execute_script("INSERT INTO categories (name) VALUES ('a'); INSERT INTO categories (name) VALUES ('b');"),
            2u);
  EXPECT_EQ(c.scalar("SELECT count(*) FROM categories").as<int>(), 2);
}

TEST_F(DatabaseTest, RowsByIndexAndByName) {
  auto& c = db->connection("db_one");
  c.execute("INSERT INTO products (name) VALUES ('Desk')");
  auto r = c.select("SELECT id, name FROM products");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0][1].as<std::string>(), "Desk");
  EXPECT_EQ(r.front().get<std::string>("name"), "Desk");
  try {
    (void)r[0]["nmae"];
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no column named 'nmae' in this result (columns: id, name)"), std::string::npos);
  }
  EXPECT_THROW((void)r[5], UsageError);
}

TEST_F(DatabaseTest, MemoryDatabaseKeepsOneSession) {
  DatabaseConfig cfg;
  cfg.add("mem", sqlite(":memory:"));
  Database mdb(cfg);
  auto& c = mdb.connection("mem");
  c.execute("CREATE TABLE t (x INTEGER)");
  c.execute("INSERT INTO t VALUES (1)");
  EXPECT_EQ(c.scalar("SELECT count(*) FROM t").as<int>(), 1) << "every query sees the same in-memory database";
  EXPECT_EQ(c.pool_stats().max, 1u);
}

TEST(DatabaseConfigErrors, DriverNotCompiledOrUnknown) {
  DatabaseConfig cfg;
  ConnectionConfig c;
  c.driver = "oracle";
  c.database = "x";
  cfg.add("legacy", c);
  try {
    Database db(cfg);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("connection 'legacy', key 'driver': unknown engine 'oracle' (known: sqlite"),
              std::string::npos)
        << e.what();
  }
}

TEST(DatabaseConfigErrors, NoDefaultConnection) {
  DatabaseConfig cfg;
  cfg.add("a", sqlite(":memory:"));
  cfg.add("b", sqlite(":memory:"));
  Database db(cfg);
  try {
    (void)db.connection();
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("DB_CONNECTION"), std::string::npos) << e.what();
  }
}

TEST(DatabaseConfigErrors, UnopenableSqliteFileIsAConnectionError) {
  DatabaseConfig cfg;
  cfg.add("broken", sqlite("/proc/definitely/not/here.db"));
  Database db(cfg);
  try {
    (void)db.connection("broken").select("SELECT 1");
    FAIL();
  } catch (const ConnectionError& e) {
    EXPECT_TRUE(e.is_connection_refused()) << e.what();
    EXPECT_FALSE(e.is_connection_lost());
    EXPECT_EQ(e.connection(), "broken");
    EXPECT_NE(std::string(e.what()).find("cannot open SQLite database"), std::string::npos) << e.what();
  }
}

// insert_get_id on SQLite reads the key as the row id only when the key column
// is the rowid alias (INTEGER PRIMARY KEY); every other shape keeps RETURNING.
TEST_F(DatabaseTest, InsertGetIdUsesTheRowIdOnlyForTheRowIdAlias) {
  auto& c = db->connection("db_one");
  std::vector<std::string> sql;
  c.on_after_query([&](const QueryEvent& e) { sql.emplace_back(e.sql); });
  auto returned = [&] { return !sql.empty() && sql.back().find("RETURNING") != std::string::npos; };

  // The alias: no RETURNING, and the id is the row's key.
  c.execute("INSERT INTO products (id, name) VALUES (41, 'first')");
  const std::int64_t id = c.table("products").insert_get_id({{"name", "second"}});
  EXPECT_FALSE(returned()) << sql.back();
  EXPECT_EQ(id, 42);
  EXPECT_EQ(c.table("products").where("id", id).value("name").as<std::string>(), "second");

  // Inside a transaction too.
  c.transaction([&](Transaction& tx) {
    EXPECT_EQ(tx.table("products").insert_get_id({{"name", "third"}}), 43);
    EXPECT_FALSE(returned()) << sql.back();
  });

  // A generated key that is not the row id: a default on another column.
  c.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, code INTEGER NOT NULL DEFAULT 777, note TEXT)");
  EXPECT_EQ(c.table("tickets").insert_get_id({{"note", "a"}}, "code"), 777);
  EXPECT_TRUE(returned()) << sql.back();

  // Not aliases: INT (not INTEGER), a composite key, WITHOUT ROWID, the DESC
  // quirk, and a real column named rowid. Each still returns the right key.
  const std::vector<std::pair<std::string, std::string>> others = {
      {"int_key", "CREATE TABLE int_key (id INT PRIMARY KEY DEFAULT 5, note TEXT)"},
      {"pair_key", "CREATE TABLE pair_key (id INTEGER DEFAULT 6, n INTEGER DEFAULT 1, note TEXT, PRIMARY KEY (id, n))"},
      {"no_rowid", "CREATE TABLE no_rowid (id INTEGER PRIMARY KEY DEFAULT 7, note TEXT) WITHOUT ROWID"},
      {"desc_key", "CREATE TABLE desc_key (id INTEGER PRIMARY KEY DESC DEFAULT 8, note TEXT)"},
  };
  std::int64_t expected = 5;
  for (const auto& [table, ddl] : others) {
    c.execute(ddl);
    EXPECT_EQ(c.table(table).insert_get_id({{"note", "x"}}), expected) << table;
    EXPECT_TRUE(returned()) << table << ": " << sql.back();
    ++expected;
  }
  c.execute("CREATE TABLE shadow (id INTEGER PRIMARY KEY, rowid INTEGER DEFAULT 99, note TEXT)");
  EXPECT_EQ(c.table("shadow").insert_get_id({{"note", "x"}}, "rowid"), 99);
  EXPECT_TRUE(returned()) << sql.back();

  // The answer follows the schema: the same table recreated without the alias.
  // The insert whose statement was cached as a row id insert still returns the
  // key (found again after SQLite re-prepared it), and the next one asks with RETURNING.
  c.execute("DROP TABLE products");
  c.execute("CREATE TABLE products (id INTEGER NOT NULL DEFAULT 31, name TEXT)");
  EXPECT_EQ(c.table("products").insert_get_id({{"name", "again"}}), 31);
  EXPECT_EQ(c.table("products").insert_get_id({{"name", "and again"}}), 31);
  EXPECT_TRUE(returned()) << sql.back();
}

// The row id answer is kept with the cached INSERT (no probe per insert), and
// a schema change by another connection is noticed at the next insert.
TEST_F(DatabaseTest, InsertGetIdFollowsATableRedefinedByAnotherConnection) {
  auto& c = db->connection("db_one");
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(c.table("products").insert_get_id({{"name", "p" + std::to_string(i)}}), i);
  {
    DatabaseConfig other_cfg;
    other_cfg.add("other", sqlite((dir / "one.db").string()));
    Database other(other_cfg);
    other.connection("other").execute("DROP TABLE products");
    other.connection("other").execute("CREATE TABLE products (id INTEGER NOT NULL DEFAULT 500, name TEXT UNIQUE NOT NULL)");
  }
  // Not the row id any more: the key is the column's value, not the row id (1).
  EXPECT_EQ(c.table("products").insert_get_id({{"name", "after"}}), 500);
  EXPECT_EQ(c.table("products").insert_get_id({{"name", "after 2"}}), 500);
  {
    DatabaseConfig other_cfg;
    other_cfg.add("other", sqlite((dir / "one.db").string()));
    Database other(other_cfg);
    other.connection("other").execute("DROP TABLE products");
    other.connection("other").execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)");
    other.connection("other").execute("INSERT INTO products (id, name) VALUES (70, 'seed')");
  }
  // The alias again: the row id, and the row holds it.
  const auto id = c.table("products").insert_get_id({{"name", "back"}});
  EXPECT_EQ(id, 71);
  EXPECT_EQ(c.table("products").where("id", id).value("name").as<std::string>(), "back");
}

namespace {
struct ShardedRow {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  static constexpr auto schema = plexus::schema("sharded_rows", plexus::col<&ShardedRow::id>("id", plexus::primary_key),
                                                plexus::col<&ShardedRow::user_id>("user_id"))
                                     .shard_key("user_id");
};
}  // namespace

TEST_F(DatabaseTest, AShardKeyOnAPlainConnectionIsRefused) {
  try {
    (void)db->model<ShardedRow>();
    FAIL() << "shard_key() was accepted and ignored";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("shard_key(\"user_id\")"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a shard group"), std::string::npos) << e.what();
  }
}

TEST_F(DatabaseTest, SettingsChangeSafelyWhileQueriesRun) {
  // Run under ThreadSanitizer by scripts/sanitize: no data race on the settings.
  auto& c = db->connection("db_one");
  std::atomic<bool> stop{false};
  std::atomic<int> events{0};
  c.on_after_query([&](const QueryEvent&) { ++events; });
  std::thread reader([&] {
    while (!stop) (void)c.select("SELECT ?", {1});
  });
  for (int i = 0; i < 200 || (events < 50 && i < 2000000); ++i) {
    c.redact_bindings(i % 2 == 0);
    c.on_warning([i](const std::string&) { (void)i; });
  }
  stop = true;
  reader.join();
  EXPECT_GT(events.load(), 0);
}

// A builder takes its SQL from a per-thread cache that starts over when it
// holds too many shapes. A query hook that runs builders of more shapes than
// that, while a builder's own statement (found in the cache) is about to run,
// must not pull that statement from under it: the outer read still runs its
// own SQL with its own values (under ASan a dangling text would fail here).
TEST_F(DatabaseTest, BuildersRunFromAQueryHookLeaveTheOuterStatementIntact) {
  auto& c = db->connection("db_one");
  for (int i = 1; i <= 5; ++i) c.execute("INSERT INTO products (name) VALUES (?)", {"p" + std::to_string(i)});
  auto outer = [&](std::int64_t id) { return c.table("products").select({"id", "name"}).where("id", id).first(); };
  ASSERT_EQ(outer(2)->get<std::string>("name"), "p2");  // the shape is now cached
  bool inside = false;
  std::size_t nested = 0;
  std::vector<std::string> outer_sql;
  c.on_before_query([&](const QueryEvent& e) {
    if (inside) return;
    outer_sql.emplace_back(e.sql);
    inside = true;
    for (std::uint64_t n = 1; n <= 1100; ++n)  // 1,100 shapes: more than the cache keeps
      nested += c.table("products").select({"name"}).where("id", ">", 0).limit(n).get().size();
    inside = false;
  });
  const auto got = outer(4);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->get<std::int64_t>("id"), 4);
  EXPECT_EQ(got->get<std::string>("name"), "p4");
  ASSERT_EQ(outer_sql.size(), 1u);
  EXPECT_EQ(outer_sql[0], R"(SELECT "id", "name" FROM "products" WHERE "id" = ? LIMIT 1)");
  EXPECT_EQ(nested, 10u + 5u * 1096);  // limits 1..4 give 1+2+3+4 rows, the rest 5 each
}

// A FixedTable is checked once when it is made; a builder given one records
// it without a second look. Generated names (plain ones of 1 to 130
// characters, around the journal's room and the plain-name limit, and other
// accepted or refused forms) are refused exactly as name_form() refuses them,
// and the builders compile and run as the same builders given the name as text.
TEST(FixedTableTest, GeneratedTablesBuildAsTheSameNameGivenAsText) {
  DatabaseConfig cfg;
  cfg.add("mem", sqlite(":memory:"));
  Database mdb(cfg);
  auto& c = mdb.connection("mem");
  std::mt19937 rng(20261202);
  static const FixedColumns cols({Expr("id"), Expr("name")});
  const std::string plain = "abcxyzABCXYZ_0189";
  const std::vector<std::string> odd = {".", " AS x", "\"", " ", "-", "*", "é", "\x7f", ";"};
  int accepted = 0, refused = 0;
  for (int round = 0; round < 400; ++round) {
    const std::size_t n = 1 + rng() % 130;
    std::string name(1, "abc_"[rng() % 4]);
    while (name.size() < n) name += plain[rng() % plain.size()];
    if (rng() % 3 == 0) name.insert(1 + rng() % name.size(), odd[rng() % odd.size()]);
    std::string expected_error;
    try {
      (void)name_form(name);
    } catch (const UsageError& e) {
      expected_error = e.what();
    }
    try {
      const FixedTable fixed(name);
      EXPECT_TRUE(expected_error.empty()) << "'" << name << "' was accepted; name_form() refuses it";
      const Query by_text = c.table(name).where("id", 3).order_by("id").to_sql();
      QueryBuilder fixed_builder(c, fixed);
      const QueryBuilder copied = fixed_builder;  // a copy names the same table (kept by reference)
      EXPECT_EQ(fixed_builder.table(), name);
      EXPECT_EQ(copied.table(), name);
      const Query by_fixed = fixed_builder.where("id", 3).order_by("id").to_sql();
      EXPECT_EQ(by_fixed.sql, by_text.sql) << name;
      ASSERT_EQ(by_fixed.bindings.size(), 1u);
      EXPECT_EQ(by_fixed.bindings[0], Value(3));
      // With a fixed select list: made in one step as in two.
      const Query listed = QueryBuilder(c, fixed, cols).where("id", 3).to_sql();
      EXPECT_EQ(listed.sql, QueryBuilder(c, fixed).select(cols).where("id", 3).to_sql().sql) << name;
      EXPECT_EQ(listed.sql, c.table(name).select({"id", "name"}).where("id", 3).to_sql().sql) << name;
      EXPECT_EQ(QueryBuilder(c, fixed, cols).table(), name);
      ++accepted;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()), expected_error) << "'" << name << "'";
      ++refused;
    }
  }
  EXPECT_GT(accepted, 150);
  EXPECT_GT(refused, 40);

  // Run, the first read compiles and the next finds it by shape: both the same rows.
  // Two tables whose names differ in the last character: the shape each read
  // is found by names its own table.
  c.execute("CREATE TABLE fixed_items (id INTEGER PRIMARY KEY, name TEXT)");
  c.execute("INSERT INTO fixed_items VALUES (1, 'a'), (2, 'b')");
  c.execute("CREATE TABLE fixed_itemz (id INTEGER PRIMARY KEY, name TEXT)");
  c.execute("INSERT INTO fixed_itemz VALUES (1, 'z1'), (2, 'z2')");
  static const FixedTable items("fixed_items"), itemz("fixed_itemz");
  for (int round = 0; round < 3; ++round) {
    for (int i = 1; i <= 2; ++i) {
      auto row = QueryBuilder(c, items).where("id", i).first();
      ASSERT_TRUE(row.has_value());
      EXPECT_EQ((*row)["name"].as<std::string>(), i == 1 ? "a" : "b");
      auto other = QueryBuilder(c, itemz).where("id", i).first();
      ASSERT_TRUE(other.has_value());
      EXPECT_EQ((*other)["name"].as<std::string>(), i == 1 ? "z1" : "z2");
      EXPECT_EQ(c.table("fixed_itemz").where("id", i).value("name").as<std::string>(), i == 1 ? "z1" : "z2");
    }
  }
  EXPECT_THROW(FixedTable("items; DROP TABLE x"), UsageError);
}

// An empty hook is refused when it is registered (it would throw
// std::bad_function_call after every statement had run); a registration
// returns a handle that takes the hook out again.
TEST(Hooks, EmptyHooksAreRefusedAndHandlesRemoveThem) {
  DatabaseConfig cfg;
  cfg.add("mem", sqlite(":memory:"));
  HookHandle outlived;
  {
    Database db(cfg);
    auto& c = db.connection("mem");
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)");
    EXPECT_THROW(db.on_after_query(nullptr), UsageError);
    EXPECT_THROW(c.on_before_query(QueryHook{}), UsageError);
    EXPECT_THROW(c.on_error(nullptr), UsageError);
    EXPECT_THROW(db.on_slow_query(std::chrono::milliseconds(1), nullptr), UsageError);
    // Nothing was registered: a write runs once and raises nothing.
    EXPECT_NO_THROW(c.execute("INSERT INTO t (id) VALUES (1)"));
    EXPECT_EQ(c.scalar("SELECT count(*) FROM t").as<int>(), 1);

    int local = 0, global = 0;
    HookHandle a = c.on_after_query([&](const QueryEvent&) { ++local; });
    HookHandle b = db.on_after_query([&](const QueryEvent&) { ++global; });
    EXPECT_TRUE(a.active());
    (void)c.scalar("SELECT 1");
    EXPECT_EQ(local, 1);
    EXPECT_EQ(global, 1);
    a.remove();
    EXPECT_FALSE(a.active());
    (void)c.scalar("SELECT 1");
    EXPECT_EQ(local, 1) << "a removed hook is not called";
    EXPECT_EQ(global, 2) << "the other hook stays";
    a.remove();  // twice: nothing happens
    outlived = b;
  }
  EXPECT_FALSE(outlived.active());
  outlived.remove();  // after the Database is gone: nothing happens
}

// How a SQLite table's columns compare text, read from its CREATE statement:
// text affinity compares by BINARY unless a COLLATE says otherwise; other
// columns hold no text; LIKE on SQLite ignores case whatever the collation.
TEST(Catalog, SqliteColumnsSayHowTheyCompareText) {
  DatabaseConfig cfg;
  cfg.add("mem", sqlite(":memory:"));
  Database db(cfg);
  auto& c = db.connection("mem");
  c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, \"odd, col\" TEXT COLLATE NOCASE, v VARCHAR(10) DEFAULT ('a,b'), "
            "[w] CHARACTER(3) COLLATE rtrim, n DECIMAL(10, 2), b BLOB, CONSTRAINT u UNIQUE (v, w))");
  const auto d = describe_table(db, "mem", "t");
  std::map<std::string, const ColumnInfo*> by_name;
  for (const auto& col : d.columns) by_name[col.name] = &col;
  ASSERT_EQ(by_name.size(), 6u);
  EXPECT_EQ(by_name.at("id")->collation, "");
  EXPECT_EQ(by_name.at("odd, col")->collation, "NOCASE");
  EXPECT_FALSE(by_name.at("odd, col")->binary_order);
  EXPECT_EQ(by_name.at("v")->collation, "BINARY");
  EXPECT_TRUE(by_name.at("v")->binary_order);
  EXPECT_EQ(by_name.at("w")->collation, "rtrim");
  EXPECT_FALSE(by_name.at("w")->binary_order);
  EXPECT_EQ(by_name.at("n")->collation, "") << "a DECIMAL holds no text";
  EXPECT_EQ(by_name.at("b")->collation, "");
  EXPECT_FALSE(by_name.at("v")->case_sensitive_like) << "SQLite's LIKE ignores ASCII case";
}

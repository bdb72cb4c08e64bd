// Migrations on every engine (SQLite files, PostgreSQL, PostgreSQL through
// pgbouncer in transaction mode, MariaDB): apply, status, checksums, rollback,
// a broken migration stopping its target at the last good one, two migrators
// apart, fan-out with resume, bad folders; and the statement splitter on
// generated texts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "conformance/engine_context.hpp"
#include "driver/sql_lexer.hpp"
#include "migrate/sql_split.hpp"
#include "plexus/plexus.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class Migrations : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ctx = test::context_for(GetParam());
    dir = fs::temp_directory_path() / ("plexus_migrate_" + std::to_string(::getpid()) + "_" + GetParam() + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (GetParam() != "sqlite") {
      url = test::env_or_empty(ctx.url_env);
      if (url.empty()) GTEST_SKIP() << ctx.url_env << " not set: run ./scripts/test";
    }
    suffix = "_" + GetParam();
    reset();
  }
  void TearDown() override {
    if (!url.empty()) reset();
    fs::remove_all(dir);
  }
  ConnectionConfig& add(DatabaseConfig& cfg, const std::string& name, const fs::path& folder) {
    auto& c = GetParam() == "sqlite" ? cfg.add(name, sqlite((dir / (name + ".db")).string())) : cfg.add(name, url);
    c.migrations = folder.string();
    return c;
  }
  std::unique_ptr<Database> open(const fs::path& folder) {
    DatabaseConfig cfg;
    add(cfg, "app", folder);
    return std::make_unique<Database>(cfg);
  }
  /// The server databases are shared: drop what a run leaves.
  void reset() {
    if (url.empty()) return;
    DatabaseConfig cfg;
    cfg.add("x", url);
    Database db(cfg);
    auto& c = db.connection("x");
    for (const auto& t : {"mig_users" + suffix, "mig_orders" + suffix, std::string("plexus_migrations")})
      c.execute("DROP TABLE IF EXISTS " + t);
    try {
      c.execute("DELETE FROM plexus_locks WHERE name = 'plexus_migrations'");
    } catch (const Error&) {
      // no lock table yet
    }
  }
  bool has_table(Connection& c, const std::string& t) {
    try {
      (void)c.on_primary().table(t).count();
      return true;
    } catch (const Error&) {
      return false;
    }
  }
  /// Three migrations: users, orders (two statements), an index.
  fs::path three() {
    const fs::path m = dir / "m";
    write(m / "0001_create_users.up.sql", "CREATE TABLE mig_users" + suffix + " (id INTEGER PRIMARY KEY, name " +
                                              ctx.text + " NOT NULL);\n");
    write(m / "0001_create_users.down.sql", "DROP TABLE mig_users" + suffix + ";\n");
    write(m / "0002_create_orders.up.sql", "-- orders, with a default row\nCREATE TABLE mig_orders" + suffix +
                                               " (id INTEGER PRIMARY KEY, note " + ctx.text +
                                               ");\n\nINSERT INTO mig_orders" + suffix +
                                               " (id, note) VALUES (1, 'a;b -- not a comment');\n");
    write(m / "0002_create_orders.down.sql", "DROP TABLE mig_orders" + suffix + ";");
    write(m / "0003_index_users.up.sql", "CREATE INDEX mig_users_name" + suffix + " ON mig_users" + suffix + " (name)");
    write(m / "0003_index_users.down.sql", GetParam() == "mysql" ? "DROP INDEX mig_users_name" + suffix + " ON mig_users" + suffix
                                                                  : "DROP INDEX mig_users_name" + suffix);
    if (GetParam() == "sqlite")  // not initialized for the down file in table-owned indexes: keep it simple
      write(m / "0003_index_users.down.sql", "DROP INDEX mig_users_name" + suffix);
    return m;
  }
  test::EngineContext ctx;
  fs::path dir;
  std::string url, suffix;
};

}  // namespace

TEST_P(Migrations, AppliesInOrderRecordsChecksumsAndRollsBack) {
  auto db = open(three());
  Migrator migrator(*db);
  auto& c = db->connection("app");
  auto t = migrator.migrate("app");
  ASSERT_EQ(t.state, MigrationTarget::State::done) << t.error;
  EXPECT_EQ(t.applied, (std::vector<std::string>{"0001_create_users", "0002_create_orders", "0003_index_users"}));
  EXPECT_EQ(t.version, 3);
  EXPECT_EQ(c.scalar("SELECT note FROM mig_orders" + suffix).as<std::string>(), "a;b -- not a comment");
  auto st = migrator.status("app");
  ASSERT_EQ(st.size(), 3u);
  for (const auto& s : st) EXPECT_TRUE(s.applied && !s.changed) << s.name;
  // Again: nothing to do.
  EXPECT_EQ(migrator.migrate("app").state, MigrationTarget::State::untouched);
  // Rollback two steps, then forward again.
  auto back = migrator.rollback("app", 2);
  ASSERT_EQ(back.state, MigrationTarget::State::done) << back.error;
  EXPECT_EQ(back.applied, (std::vector<std::string>{"0003_index_users", "0002_create_orders"}));
  EXPECT_EQ(back.version, 1);
  EXPECT_FALSE(has_table(c, "mig_orders" + suffix));
  EXPECT_TRUE(has_table(c, "mig_users" + suffix));
  EXPECT_EQ(migrator.migrate("app").version, 3);
}

TEST_P(Migrations, AnEditedFileIsReportedAndRefusedUnlessForced) {
  const auto m = three();
  auto db = open(m);
  Migrator migrator(*db);
  MigrateOptions up_to_2;
  up_to_2.to = 2;
  ASSERT_EQ(migrator.migrate("app", up_to_2).version, 2);
  write(m / "0001_create_users.up.sql", "CREATE TABLE mig_users" + suffix + " (id INTEGER PRIMARY KEY);\n");
  const auto st = migrator.status("app");
  EXPECT_TRUE(st[0].changed);
  EXPECT_FALSE(st[2].applied);
  auto t = migrator.migrate("app");
  EXPECT_EQ(t.state, MigrationTarget::State::failed);
  EXPECT_NE(t.error.find("0001_create_users.up.sql was edited after it was applied"), std::string::npos) << t.error;
  EXPECT_EQ(t.version, 2) << "nothing applied";
  EXPECT_FALSE(migrator.status("app")[2].applied);
  MigrateOptions force;
  force.force = true;
  auto forced = migrator.migrate("app", force);
  EXPECT_EQ(forced.state, MigrationTarget::State::done) << forced.error;
  EXPECT_FALSE(migrator.status("app")[0].changed) << "the new checksum is recorded";
}

TEST_P(Migrations, ABrokenMigrationStopsAtTheLastGoodOneNamingFileAndLine) {
  const auto m = three();
  write(m / "0004_broken.up.sql", "INSERT INTO mig_users" + suffix + " (id, name) VALUES (7, 'kept?');\n\n\nCREATE TABLEX oops (id INT);\n");
  write(m / "0005_after.up.sql", "INSERT INTO mig_users" + suffix + " (id, name) VALUES (8, 'never');\n");
  auto db = open(m);
  Migrator migrator(*db);
  auto t = migrator.migrate("app");
  EXPECT_EQ(t.state, MigrationTarget::State::failed);
  EXPECT_EQ(t.version, 3);
  EXPECT_NE(t.error.find("0004_broken.up.sql:4: "), std::string::npos) << t.error;
  auto& c = db->connection("app");
  const auto kept = c.scalar("SELECT COUNT(*) FROM mig_users" + suffix + " WHERE id = 7").as<std::int64_t>();
  if (ctx.atomic_scripts) {
    EXPECT_EQ(kept, 0) << "transactional DDL: the file rolled back";
    EXPECT_NE(t.error.find("rolled back"), std::string::npos) << t.error;
  } else {
    EXPECT_EQ(kept, 1);
    EXPECT_NE(t.error.find("stayed applied and are not rolled back"), std::string::npos) << t.error;
  }
  EXPECT_EQ(c.scalar("SELECT COUNT(*) FROM mig_users" + suffix + " WHERE id = 8").as<std::int64_t>(), 0);
  EXPECT_FALSE(migrator.status("app")[3].applied);
  // Fixed, it continues from where it stopped.
  write(m / "0004_broken.up.sql", "INSERT INTO mig_users" + suffix + " (id, name) VALUES (9, 'fixed');\n");
  if (!ctx.atomic_scripts) c.execute("DELETE FROM mig_users" + suffix + " WHERE id = 7");
  auto again = migrator.migrate("app");
  EXPECT_EQ(again.state, MigrationTarget::State::done) << again.error;
  EXPECT_EQ(again.applied, (std::vector<std::string>{"0004_broken", "0005_after"}));
}

TEST_P(Migrations, TwoMigratorsAtOnceApplyEachFileOnce) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "covered on the servers (SQLite serialises writers itself)";
  const auto m = three();
  write(m / "0004_slow.up.sql", GetParam() == "mysql" ? "SELECT SLEEP(0.5)" : "SELECT pg_sleep(0.5)");
  auto a = open(m);
  auto b = open(m);
  MigrationTarget ta, tb;
  std::thread other([&] { tb = Migrator(*b).migrate("app"); });
  ta = Migrator(*a).migrate("app");
  other.join();
  const auto applied = ta.applied.size() + tb.applied.size();
  EXPECT_EQ(applied, 4u) << ta.error << " / " << tb.error;
  EXPECT_NE(ta.state, MigrationTarget::State::failed) << ta.error;
  EXPECT_NE(tb.state, MigrationTarget::State::failed) << tb.error;
  EXPECT_EQ(a->connection("app").scalar("SELECT COUNT(*) FROM plexus_migrations").as<std::int64_t>(), 4);
}

TEST_P(Migrations, PerEngineVariantsWin) {
  const auto m = three();
  write(m / "0004_note.up.sql", "INSERT INTO mig_orders" + suffix + " (id, note) VALUES (2, 'generic')");
  const std::string engine = GetParam() == "pgbouncer" ? "postgres" : GetParam();
  write(m / ("0004_note.up." + engine + ".sql"), "INSERT INTO mig_orders" + suffix + " (id, note) VALUES (2, '" + engine + "')");
  write(m / "0004_note.up.nosuchengine.sql", "x");
  auto db = open(m);
  EXPECT_THROW((void)Migrator(*db).files("app"), ConfigError) << "an unknown engine in a file name is refused";
  fs::remove(m / "0004_note.up.nosuchengine.sql");
  ASSERT_EQ(Migrator(*db).migrate("app").state, MigrationTarget::State::done);
  EXPECT_EQ(db->connection("app").scalar("SELECT note FROM mig_orders" + suffix + " WHERE id = 2").as<std::string>(), engine);
}

INSTANTIATE_TEST_SUITE_P(Engines, Migrations, ::testing::Values("sqlite", "postgres", "pgbouncer", "mysql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// ---- folders, fan-out and make (SQLite files) ----------------------------------

class MigrateFolders : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("plexus_migfold_" + std::to_string(::getpid()) + "_" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(MigrateFolders, BadFoldersAreClearErrorsAndNothingRuns) {
  DatabaseConfig cfg;
  cfg.add("app", sqlite((dir / "app.db").string())).migrations = (dir / "m").string();
  cfg.add("plain", sqlite((dir / "plain.db").string()));
  Database db(cfg);
  Migrator migrator(db);
  auto message = [&](const std::string& conn) {
    try {
      (void)migrator.files(conn);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("app").find("migrations folder '" + (dir / "m").string() + "' does not exist"), std::string::npos);
  EXPECT_NE(message("plain").find("connection 'plain' has no migrations folder"), std::string::npos);
  EXPECT_THROW((void)migrator.files("nope"), ConfigError);
  write(dir / "m" / "0001_a.up.sql", "CREATE TABLE a (id INTEGER)");
  write(dir / "m" / "0003_c.up.sql", "CREATE TABLE c (id INTEGER)");
  EXPECT_NE(message("app").find("0002 is missing before 0003_c"), std::string::npos) << message("app");
  write(dir / "m" / "0002_b.up.sql", "CREATE TABLE b (id INTEGER)");
  write(dir / "m" / "0002_bb.up.sql", "CREATE TABLE bb (id INTEGER)");
  EXPECT_NE(message("app").find("version 0002 is used twice"), std::string::npos) << message("app");
  fs::remove(dir / "m" / "0002_bb.up.sql");
  write(dir / "m" / "2_typo.upp.sql", "");
  EXPECT_NE(message("app").find("is not named NNNN_name.up.sql"), std::string::npos) << message("app");
  EXPECT_THROW((void)migrator.migrate("app"), ConfigError);
  EXPECT_EQ(db.connection("app").scalar("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('a', 'b', 'c')").as<std::int64_t>(), 0)
      << "nothing ran";
}

TEST_F(MigrateFolders, FanOutRunsEveryTargetReportsEachAndResumes) {
  DatabaseConfig cfg;
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    names.push_back("tenant_" + std::to_string(i));
    cfg.add(names.back(), sqlite((dir / (names.back() + ".db")).string())).migrations = (dir / "m").string();
  }
  write(dir / "m" / "0001_a.up.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY)");
  write(dir / "m" / "0002_b.up.sql", "INSERT INTO a (id) VALUES (1)");
  Database db(cfg);
  // Tenant 3 already holds a row with id 1: its 0002 fails, the others go on.
  db.connection("tenant_3").execute("CREATE TABLE a (id INTEGER PRIMARY KEY)");
  db.connection("tenant_3").execute("INSERT INTO a (id) VALUES (1)");
  Migrator migrator(db);
  std::mutex m;
  std::vector<std::string> seen;
  MigrateOptions opts;
  opts.progress = [&](const std::string& conn, const std::string& what) {
    std::lock_guard lock(m);
    seen.push_back(conn + " " + what);
  };
  auto report = migrator.migrate_all(names, opts, 3);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.count(MigrationTarget::State::failed), 1u);
  EXPECT_EQ(report.count(MigrationTarget::State::done), 5u);
  EXPECT_EQ(report.targets[3].connection, "tenant_3");
  EXPECT_NE(report.targets[3].error.find("0001_a.up.sql:1"), std::string::npos) << report.targets[3].error;
  EXPECT_NE(report.to_string().find("5 done, 1 failed, 0 untouched"), std::string::npos) << report.to_string();
  EXPECT_FALSE(seen.empty());
  // Fixed, a second run continues: only tenant_3 does anything.
  db.connection("tenant_3").execute("DROP TABLE a");
  report = migrator.migrate_all(names, {}, 3);
  EXPECT_TRUE(report.ok()) << report.to_string();
  EXPECT_EQ(report.count(MigrationTarget::State::done), 1u);
  EXPECT_EQ(report.count(MigrationTarget::State::untouched), 5u);
  // A dry run prints the SQL per target and runs nothing.
  const auto created = migrator.make("tenant_0", "Add Email!");
  EXPECT_EQ(created.filename(), "0003_add_email_.up.sql");
  write(created, "ALTER TABLE a ADD COLUMN email TEXT");
  MigrateOptions dry;
  dry.dry_run = true;
  report = migrator.migrate_all(names, dry, 2);
  for (const auto& t : report.targets) {
    ASSERT_EQ(t.sql.size(), 2u) << t.connection;
    EXPECT_EQ(t.sql[1], "ALTER TABLE a ADD COLUMN email TEXT;");
  }
  EXPECT_EQ(migrator.status("tenant_0").back().applied, false);
}

// ---- the statement splitter, on generated texts --------------------------------

TEST(SqlSplit, GeneratedScriptsSplitIntoTheirStatementsWithTheirLines) {
  const SqlSyntax pg = grammar_for("postgres").syntax(), my = grammar_for("mysql").syntax();
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {
      "'a;b'", "'it''s;'", "\"quoted;name\"", "`back;tick`", "$$ body; with; semicolons $$", "$fn$ x; $$ y $fn$",
      "-- a comment; here\n", "/* block ; comment */", "1", "x", "E'it\\'s; fine'", "e'\\\\'", "E'a''b;'"};
  for (int round = 0; round < 300; ++round) {
    const int n = 1 + static_cast<int>(rng() % 6);
    std::string text;
    std::vector<std::pair<std::string, std::size_t>> want;
    std::size_t line = 1;
    for (int s = 0; s < n; ++s) {
      const int blank = static_cast<int>(rng() % 3);
      for (int b = 0; b < blank; ++b) {
        text += "\n";
        ++line;
      }
      std::string stmt = "SELECT";
      const int parts = 1 + static_cast<int>(rng() % 4);
      for (int p = 0; p < parts; ++p) {
        const auto& piece = pieces[rng() % pieces.size()];
        stmt += " " + piece;
      }
      // A trailing line comment needs a newline before the semicolon.
      if (stmt.back() == '\n') stmt += "1";
      want.emplace_back(stmt, line);
      text += stmt + ";";
      for (char c : stmt + ";")
        if (c == '\n') ++line;
    }
    const auto got = detail::split_sql(text, pg);
    ASSERT_EQ(got.size(), want.size()) << text;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].sql, want[i].first) << text;
      EXPECT_EQ(got[i].line, want[i].second) << text;
    }
  }
  EXPECT_EQ(detail::split_sql("-- only a comment\n/* and this */\n", pg).size(), 0u);
  EXPECT_EQ(detail::split_sql("SELECT 'a\\';b'; SELECT 2", my).size(), 2u) << "MySQL backslash escapes";
  EXPECT_EQ(detail::split_sql("SELECT 'a\\'; SELECT 2", pg).size(), 2u) << "standard strings: the backslash is a character";
  EXPECT_EQ(detail::split_sql("SELECT 'a\\'; SELECT 2", my).size(), 1u) << "MySQL: the quote is escaped";
  EXPECT_EQ(detail::split_sql("INSERT INTO t VALUES (E'it\\'s; fine'); SELECT 2", pg).size(), 2u)
      << "PostgreSQL escape strings: the backslash escapes the quote";
  EXPECT_EQ(detail::split_sql("SELECT type'a\\'; SELECT 2", pg).size(), 2u) << "an E ending a word is no escape string";
  const auto body = detail::split_sql("-- plexus:single-statement\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @x = 1; SET @y = 2; END", my);
  ASSERT_EQ(body.size(), 1u);
  EXPECT_EQ(body[0].line, 2u);
}

// One lexer for every use of SQL text: per dialect, what hides a semicolon or
// a placeholder (strings with the dialect's escapes, quoted identifiers,
// dollar-quoted bodies, every kind of comment), generated around a `?` and a
// `;` that must be seen, and ones that must not.
TEST(SqlLexer, EachDialectsQuotesAndCommentsHideSemicolonsAndPlaceholders) {
  struct Dialect {
    std::string name;
    std::vector<std::string> hiding;  // each holds "?" and ";" that are not code
  };
  const std::vector<Dialect> dialects = {
      {"sqlite", {"'a ? ; b'", "'it''s ?;'", "\"col ? ;\"", "`x ? ;`", "[odd ? ; name]", "-- ? ;\n", "/* ? ; */"}},
      {"postgres", {"'a ? ; b'", "E'it\\'s ? ;'", "\"col ? ;\"", "$$ ? ; $$", "$fn$ ? ; $fn$", "-- ? ;\n", "/* ? ; */"}},
      {"mysql", {"'a ? ; b'", "'it\\'s ? ;'", "\"q\\\" ? ;\"", "`x ? ;`", "# ? ;\n", "-- ? ;\n", "/* ? ; */"}},
  };
  std::mt19937 rng(7);
  for (const auto& d : dialects) {
    const SqlSyntax syntax = grammar_for(d.name).syntax();
    for (int round = 0; round < 200; ++round) {
      std::string sql = "SELECT ";
      for (int k = static_cast<int>(rng() % 4); k > 0; --k) sql += d.hiding[rng() % d.hiding.size()] + " ";
      sql += "?";  // the one placeholder in code
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) sql += " " + d.hiding[rng() % d.hiding.size()];
      std::string out;
      std::size_t seen = detail::rewrite_placeholders(sql, syntax, out, [](std::string& o) { o += "$X"; });
      EXPECT_EQ(seen, 1u) << d.name << ": " << sql;
      EXPECT_EQ(detail::count_statements(sql, syntax), 1u) << d.name << ": " << sql;
      const auto two = detail::split_sql(sql + ";\nSELECT 2", syntax);
      ASSERT_EQ(two.size(), 2u) << d.name << ": " << sql;
      std::string trimmed = sql;  // a statement is kept without trailing blanks
      while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
      EXPECT_EQ(two[0].sql, trimmed) << d.name;
      EXPECT_EQ(detail::count_statements(sql + "; SELECT 2", syntax), 2u) << d.name << ": " << sql;
    }
  }
  // What one dialect hides another does not: '#' is code on SQLite and PostgreSQL.
  EXPECT_EQ(detail::count_statements("SELECT 1 # x; SELECT 2", grammar_for("sqlite").syntax()), 2u);
  EXPECT_EQ(detail::count_statements("SELECT 1 # x; SELECT 2", grammar_for("mysql").syntax()), 1u);
  // A backslash is a character in a standard string: the quote after it ends the string.
  std::string out;
  EXPECT_EQ(detail::rewrite_placeholders("SELECT 'a\\', ?", grammar_for("postgres").syntax(), out, [](std::string& o) { o += "$1"; }), 1u);
  EXPECT_EQ(out, "SELECT 'a\\', $1");
}

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "plexus/config/config.hpp"
#include "plexus/database.hpp"
#include "plexus/core/error.hpp"

using namespace plexus;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no ConfigError>";
}

const char* kSeedConfig = R"(
default = "postgresql"

[connections.sqlite]
driver = "sqlite"
database = ".plexus/dbs/plexus.sqlite"
migrations = "database/migrations"

[connections.postgresql]
driver = "postgresql"
host = "${DB_HOST:-localhost}"
port = "${DB_PORT:-5432}"
database = "${DB_DATABASE}"
username = "${DB_USERNAME}"
password = "${DB_PASSWORD}"
ssl = "${DB_SSL:-false}"
read_hosts = ["read-1.db:5433", { host = "read-2.db", weight = 3 }]
load_balance = "weighted"
pool = { max = 20, acquire_timeout_ms = 250 }

[connections.users_db]
url = "mysql://shard_user:${DB_USERS_PASSWORD}@users-shard-1.example.com:3306/users_shard_1"
)";

Env seed_env() {
  return Env::from_map({{"DB_DATABASE", "plexus_main"},
                        {"DB_USERNAME", "postgres"},
                        {"DB_PASSWORD", "s3cret-pw"},
                        {"DB_USERS_PASSWORD", "sh@rd-pw"}});
}

}  // namespace

TEST(Config, LoadsTheSeedConnectionsWithEnvInterpolation) {
  auto cfg = DatabaseConfig::from_toml_string(kSeedConfig, "database.toml", seed_env());
  EXPECT_EQ(cfg.default_connection, "postgresql");
  ASSERT_EQ(cfg.connections.size(), 3u);
  const auto* pg = cfg.find("postgresql");
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->driver, "postgresql") << "as written; the Database resolves it";
  EXPECT_EQ(pg->hosts.at(0).host, "localhost");
  EXPECT_EQ(pg->hosts.at(0).port, 5432);
  EXPECT_EQ(pg->database, "plexus_main");
  EXPECT_EQ(pg->password, "s3cret-pw");
  EXPECT_EQ(pg->options.at("ssl"), "false");
  ASSERT_EQ(pg->read_hosts.size(), 2u);
  EXPECT_EQ(pg->read_hosts[0].port, 5433);
  EXPECT_EQ(pg->read_hosts[1].port, 5432) << "replicas inherit the primary's port";
  EXPECT_EQ(pg->read_hosts[1].weight, 3u);
  EXPECT_EQ(pg->load_balance, "weighted");
  EXPECT_EQ(pg->pool.max, 20u);
  EXPECT_EQ(pg->pool.acquire_timeout.count(), 250);
  const auto* users = cfg.find("users_db");
  ASSERT_NE(users, nullptr);
  EXPECT_EQ(users->driver, "mysql");
  EXPECT_EQ(users->password, "sh@rd-pw");
  EXPECT_EQ(users->hosts.at(0).host, "users-shard-1.example.com");
  EXPECT_EQ(cfg.find("sqlite")->migrations, "database/migrations");
}

TEST(Config, DbConnectionEnvOverridesDefault) {
  auto env = seed_env();
  env.set("DB_CONNECTION", "sqlite");
  EXPECT_EQ(DatabaseConfig::from_toml_string(kSeedConfig, "database.toml", env).default_connection, "sqlite");
}

TEST(Config, ToStringRedactsPasswords) {
  auto cfg = DatabaseConfig::from_toml_string(kSeedConfig, "database.toml", seed_env());
  std::string s = cfg.to_string();
  EXPECT_EQ(s.find("s3cret-pw"), std::string::npos) << s;
  EXPECT_EQ(s.find("sh@rd-pw"), std::string::npos) << s;
  EXPECT_NE(s.find("postgres:***@localhost:5432/plexus_main"), std::string::npos) << s;
}

TEST(Config, ToStringMasksThePasswordWhereverItIsCopied) {
  auto c = parse_url("mysql://u:s3cret-pw@h:3306/d?note=s3cret-pw");
  c.name = "m";
  EXPECT_EQ(c.to_string().find("s3cret-pw"), std::string::npos) << c.to_string();
}

TEST(Config, MissingEnvVariableNamesFileKeyAndVariable) {
  auto msg = error_of([] { (void)DatabaseConfig::from_toml_string(kSeedConfig, "config/database.toml", Env::from_map({})); });
  EXPECT_NE(msg.find("config/database.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("connections.postgresql.database"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DB_DATABASE is not set"), std::string::npos) << msg;
}

TEST(Config, BadTomlSyntaxGivesLineAndColumn) {
  auto msg = error_of([] { (void)DatabaseConfig::from_toml_string("[connections.a]\ndriver = \n", "db.toml", Env::from_map({})); });
  EXPECT_NE(msg.find("db.toml:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid TOML"), std::string::npos) << msg;
}

TEST(Config, NonAsciiOutsideStringsIsRefusedClearly) {
  // Found by fuzzing: toml++ 3.3 reaches undefined behaviour on such input.
  auto msg = error_of([] {
    (void)DatabaseConfig::from_toml_string("[connections\xcc\x92]\nurl = \"x\"\n", "db.toml", Env::from_map({}));
  });
  EXPECT_NE(msg.find("db.toml:1:13: invalid TOML: a non-ASCII character outside a string"), std::string::npos) << msg;
  // Inside strings and comments it is fine.
  auto cfg = DatabaseConfig::from_toml_string(
      "# caf\xc3\xa9\n[connections.a]\ndriver = \"sqlite\"\ndatabase = \"donn\xc3\xa9" "es.db\"\n", "db.toml", Env::from_map({}));
  EXPECT_EQ(cfg.find("a")->database, "donn\xc3\xa9" "es.db");
}

TEST(Config, UnknownKeyIsRefusedWithTheKnownOnes) {
  // Any key is an engine option to the loader; the engine refuses it when the Database is built.
  auto msg = error_of([] {
    Database db(DatabaseConfig::from_toml_string("[connections.a]\ndriver = \"sqlite\"\ndatabse = \"x.db\"\n",
                                                 "db.toml", Env::from_map({})));
  });
  EXPECT_NE(msg.find("db.toml: key 'connections.a.databse'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("connections.a.databse"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("database"), std::string::npos) << msg;
}

TEST(Config, WrongTypesAndRangesAreRefused) {
  auto env = Env::from_map({});
  auto msg = error_of([&] {
    (void)DatabaseConfig::from_toml_string("[connections.a]\ndriver = \"postgres\"\nhost = \"h\"\nport = 99999\n", "db.toml", env);
  });
  EXPECT_NE(msg.find("connections.a.port"), std::string::npos) << msg;
  EXPECT_NE(msg.find("between 1 and 65535"), std::string::npos) << msg;
  msg = error_of([&] { (void)DatabaseConfig::from_toml_string("[connections.a]\ndriver = 5\n", "db.toml", env); });
  EXPECT_NE(msg.find("expected a string, found an integer"), std::string::npos) << msg;
  msg = error_of([&] {
    Database db(DatabaseConfig::from_toml_string("[connections.a]\ndriver = \"oracle\"\n", "db.toml", env));
  });
  EXPECT_NE(msg.find("db.toml: key 'connections.a.driver': unknown engine 'oracle'"), std::string::npos) << msg;
  // Engine options are typed: "5s" is not milliseconds, a flag is true or false, a choice is one of its values.
  for (const auto& [line, expect] : std::vector<std::pair<std::string, std::string>>{
           {"busy_timeout = \"5s\"", "'connections.a.busy_timeout': expected whole milliseconds"},
           {"busy_timeout = -1", "'connections.a.busy_timeout': must be between 0 and"},
           {"statement_cache = \"many\"", "'connections.a.statement_cache': expected a whole number"},
           {"ssl = true", "'connections.a.ssl': unknown key for a sqlite connection"}}) {
    msg = error_of([&] {
      Database db(DatabaseConfig::from_toml_string(
          "[connections.a]\ndriver = \"sqlite\"\ndatabase = \"a.db\"\n" + line + "\n", "db.toml", env));
    });
    EXPECT_NE(msg.find(expect), std::string::npos) << line << ": " << msg;
  }
  msg = error_of([&] {
    Database db(DatabaseConfig::from_toml_string(
        "[connections.p]\ndriver = \"postgresql\"\nhost = \"h\"\nsslmode = \"sometimes\"\n", "db.toml", env));
  });
  EXPECT_NE(msg.find("'connections.p.sslmode': 'sometimes' is not one of: disable, allow, prefer"), std::string::npos)
      << msg;
  msg = error_of([&] {
    Database db(DatabaseConfig::from_toml_string(
        "[connections.p]\ndriver = \"postgresql\"\nhost = \"h\"\nssl = false\nsslmode = \"require\"\n", "db.toml",
        env));
  });
  EXPECT_NE(msg.find("contradicts ssl = false"), std::string::npos) << msg;
  msg = error_of([&] {
    (void)DatabaseConfig::from_toml_string("[connections.a]\ndriver = \"sqlite\"\ndatabase=\"a\"\nsticky = \"maybe\"\n", "db.toml", env);
  });
  EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;
}

TEST(Config, MissingFileSaysWhatToDo) {
  auto msg = error_of([] { (void)DatabaseConfig::from_toml_file("/nonexistent/database.toml", Env::from_map({})); });
  EXPECT_NE(msg.find("/nonexistent/database.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST(Config, DefaultMustExist) {
  auto msg = error_of([] {
    (void)DatabaseConfig::from_toml_string("default = \"nope\"\n[connections.a]\ndriver=\"sqlite\"\ndatabase=\"a.db\"\n",
                                           "db.toml", Env::from_map({}));
  });
  EXPECT_NE(msg.find("default connection 'nope' is not configured (configured: a)"), std::string::npos) << msg;
}

TEST(Config, ValidationNamesTheConnection) {
  DatabaseConfig cfg;
  ConnectionConfig pg;
  pg.driver = "postgres";
  cfg.add("analytics", pg);
  auto msg = error_of([&] { Database db(cfg); });
  EXPECT_NE(msg.find("connection 'analytics': no host given"), std::string::npos) << msg;
}

TEST(Config, TheDatabaseReportsOneCanonicalEngineNamePerEngine) {
  DatabaseConfig cfg;
  cfg.add("a", "sqlite3:a.db");
  cfg.add("b", "postgresql://u@h/d");
  cfg.add("c", "pgsql://u@h/d");
  cfg.add("d", "mariadb://u@h/d");
  Database db(cfg);
  EXPECT_EQ(db.connection("a").type(), "sqlite");
  EXPECT_EQ(db.connection("b").type(), "postgres");
  EXPECT_EQ(db.connection("c").type(), "postgres");
  EXPECT_EQ(db.connection("d").type(), "mysql");
  EXPECT_EQ(db.config().find("d")->driver, "mysql");
}

TEST(Env, InterpolationForms) {
  auto env = Env::from_map({{"A", "1"}, {"EMPTY", ""}});
  EXPECT_EQ(env.interpolate("x${A}y", "k"), "x1y");
  EXPECT_EQ(env.interpolate("${B:-dflt}", "k"), "dflt");
  EXPECT_EQ(env.interpolate("${EMPTY:-dflt}", "k"), "dflt");
  EXPECT_EQ(env.interpolate("$$5", "k"), "$5");
  EXPECT_THROW((void)env.interpolate("${A", "k"), ConfigError);
  EXPECT_THROW((void)env.interpolate("${1BAD}", "k"), ConfigError);
}

TEST(Env, DotenvFillsOnlyWhatIsUnset) {
  auto dir = std::filesystem::temp_directory_path() / "plexus_env_test";
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / ".env");
    f << "# comment\nDB_HOST=from-dotenv\nexport DB_NAME=\"quoted value\"\nKEPT=x # trailing\n";
  }
  auto env = Env::from_map({{"DB_HOST", "from-env"}});
  env.load_dotenv(dir / ".env");
  EXPECT_EQ(env.get("DB_HOST"), "from-env");
  EXPECT_EQ(env.get("DB_NAME"), "quoted value");
  EXPECT_EQ(env.get("KEPT"), "x");
  {
    std::ofstream f(dir / ".env.bad");
    f << "OK=1\nthis line is wrong\n";
  }
  auto msg = error_of([&] { env.load_dotenv(dir / ".env.bad"); });
  EXPECT_NE(msg.find(".env.bad:2"), std::string::npos) << msg;
}

TEST(Url, ParsesPostgresWithMultiHostAndOptions) {
  auto c = parse_url("postgresql://app:p%40ss@db1:5432,db2:5433/main?sslmode=verify-full&application_name=api");
  EXPECT_EQ(c.driver, "postgresql");
  EXPECT_EQ(c.username, "app");
  EXPECT_EQ(c.password, "p@ss");
  ASSERT_EQ(c.hosts.size(), 2u);
  EXPECT_EQ(c.hosts[1].host, "db2");
  EXPECT_EQ(c.hosts[1].port, 5433);
  EXPECT_EQ(c.database, "main");
  EXPECT_EQ(c.options.at("sslmode"), "verify-full");
  EXPECT_EQ(c.options.at("application_name"), "api");
}

TEST(Url, ParsesMysqlAndSqliteForms) {
  auto m = parse_url("mysql://root:root@localhost/db_one");
  EXPECT_EQ(m.driver, "mysql");
  EXPECT_EQ(m.database, "db_one");
  EXPECT_EQ(m.hosts.at(0).port, 0);
  EXPECT_EQ(parse_url("sqlite:var/app.db").database, "var/app.db");
  EXPECT_EQ(parse_url("sqlite::memory:").database, ":memory:");
  EXPECT_EQ(parse_url("sqlite:///abs/app.db").database, "/abs/app.db");
  EXPECT_EQ(parse_url("postgres://u@[::1]:6000/d").hosts.at(0).host, "::1");
}

TEST(Url, BadUrlsGiveClearErrorsWithoutThePassword) {
  auto msg = error_of([] {
    DatabaseConfig cfg;
    cfg.add("legacy", "oracle://u:topsecret@h/d");
    Database db(cfg);
  });
  EXPECT_NE(msg.find("unknown engine 'oracle'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("topsecret"), std::string::npos) << msg;
  msg = error_of([] { (void)parse_url("postgresql://u:topsecret@h:notaport/d"); });
  EXPECT_NE(msg.find("port 'notaport'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("topsecret"), std::string::npos) << msg;
  // scheme:/path is a path (RFC 3986): for a server engine, a configuration without a host.
  EXPECT_EQ(parse_url("mysql:/h/d").database, "/h/d");
  msg = error_of([] {
    DatabaseConfig cfg;
    cfg.add("m", parse_url("mysql:/h/d"));
    Database db(cfg);
  });
  EXPECT_NE(msg.find("mysql://[user[:password]@]host"), std::string::npos) << msg;
  msg = error_of([] { (void)parse_url("no-scheme-here"); });
  EXPECT_NE(msg.find("expected engine:path/to/file or engine://"), std::string::npos) << msg;
  msg = error_of([] { (void)parse_url("sqlite:"); });
  EXPECT_NE(msg.find("expected sqlite:path/to/file"), std::string::npos) << msg;
  msg = error_of([] { (void)parse_url("mysql:u:topsecret@h/d"); });  // the '//' forgotten
  EXPECT_NE(msg.find("'//'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("topsecret"), std::string::npos) << msg;
}

TEST(Url, RedactUrlHidesPasswordsEverywhere) {
  EXPECT_EQ(redact_url("postgresql://u:pw@h:1/d"), "postgresql://u:***@h:1/d");
  EXPECT_EQ(redact_url("postgresql://u:p@w@h/d"), "postgresql://u:***@h/d");
  EXPECT_EQ(redact_url("postgresql://h/d?user=u&password=pw&sslmode=require"),
            "postgresql://h/d?user=u&password=***&sslmode=require");
  EXPECT_EQ(redact_url("sqlite:app.db"), "sqlite:app.db");
}

TEST(Config, ConnectionsKeepTheFileOrder) {
  auto cfg = DatabaseConfig::from_toml_string(
      "[connections.zeta]\ndriver = \"sqlite\"\ndatabase = \"z.db\"\n"
      "[connections.alpha]\ndriver = \"sqlite\"\ndatabase = \"a.db\"\n"
      "[connections.mid]\ndriver = \"sqlite\"\ndatabase = \"m.db\"\n",
      "order.toml", Env::from_map({}));
  EXPECT_EQ(cfg.names(), (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

// Configuration refuses what it cannot mean exactly: a NUL byte anywhere
// (TOML "\u0000", a URL's %00), an integer where a flag goes, a port list
// squeezed into one host; flags are read the same whatever their case, and
// `sqlite:/absolute/path` is a path as RFC 3986 reads it.
TEST(Config, RefusesWhatItCannotMeanExactly) {
  const Env env = Env::from_map({});
  const auto toml = [&](const std::string& body) {
    return DatabaseConfig::from_toml_string("[connections.a]\ndriver = \"sqlite\"\n" + body + "\n", "db.toml", env);
  };
  std::string msg = error_of([&] { (void)toml("database = \"a\\u0000b.sqlite\""); });
  EXPECT_NE(msg.find("NUL"), std::string::npos) << msg;
  EXPECT_NE(msg.find("connections.a.database"), std::string::npos) << msg;
  msg = error_of([&] { (void)toml("database = \"a.db\"\nread_only = 2"); });
  EXPECT_NE(msg.find("expected true or false"), std::string::npos) << msg;
  EXPECT_THROW((void)toml("database = \"a.db\"\nread_only = 1"), ConfigError);
  for (const char* yes : {"true", "TRUE", "True", "yes", "YES", "on", "1"})
    EXPECT_TRUE(toml(std::string("database = \"a.db\"\nread_only = \"") + yes + "\"").connections.at(0).read_only) << yes;
  for (const char* no : {"false", "FALSE", "no", "Off", "0", ""})
    EXPECT_FALSE(toml(std::string("database = \"a.db\"\nread_only = \"") + no + "\"").connections.at(0).read_only) << no;
  EXPECT_THROW((void)toml("database = \"a.db\"\nread_only = \"maybe\""), ConfigError);
  EXPECT_EQ(parse_flag("Yes"), std::optional<bool>(true));
  EXPECT_EQ(parse_flag("2"), std::nullopt);

  msg = error_of([] { (void)parse_url("postgresql://app:s3cr%00et@h:5432/db"); });
  EXPECT_NE(msg.find("%00"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("s3cr"), std::string::npos) << "the password never shows: " << msg;
  EXPECT_THROW((void)parse_url("sqlite:a%00b.db"), ConfigError);
  msg = error_of([] { (void)parse_url("postgresql://h:5432:5433/db"); });
  EXPECT_NE(msg.find("holds ':'"), std::string::npos) << msg;
  EXPECT_THROW((void)parse_url("mysql://::1/db"), ConfigError);
  EXPECT_EQ(parse_url("postgresql://[::1]:5433/db").hosts.at(0).host, "::1");
  EXPECT_EQ(parse_url("postgresql://h1:5432,h2:5433/db").hosts.size(), 2u);

  EXPECT_EQ(parse_url("sqlite:/var/app/db.sqlite").database, "/var/app/db.sqlite");
  EXPECT_EQ(parse_url("sqlite:///var/app/db.sqlite").database, "/var/app/db.sqlite");
  EXPECT_EQ(parse_url("sqlite:relative/path.db").database, "relative/path.db");
}

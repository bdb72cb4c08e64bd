// Secrets and TLS: no password in errors, events or to_string(); TLS to
// PostgreSQL with verify-full against the CA scripts/servers made, and a
// wrong CA refused.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine_context.hpp"
#include "secret_gen.hpp"

using namespace plexus;

namespace {

std::string pg_url_or_skip() {
  std::string url = test::env_or_empty("PLEXUS_TEST_PG_URL");
  return url;
}

}  // namespace

TEST(Tls, VerifyFullWithTheServersCaWorks) {
  std::string url = pg_url_or_skip(), ca = test::env_or_empty("PLEXUS_TEST_PG_TLS_CA");
  if (url.empty() || ca.empty()) GTEST_SKIP() << "PLEXUS_TEST_PG_URL / PLEXUS_TEST_PG_TLS_CA not set: run ./scripts/test";
  DatabaseConfig cfg;
  auto& c = cfg.add("secure", url);
  c.options["sslmode"] = "verify-full";
  c.options["sslrootcert"] = ca;
  Database db(cfg);
  EXPECT_TRUE(db.connection("secure").scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").as<bool>());
  // The check before reusing an idle session (nothing readable on its
  // socket) must hold for TLS sessions too: no reconnect between queries.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(db.connection("secure").scalar("SELECT ?", {i}).as<int>(), i);
  }
  EXPECT_EQ(db.connection("secure").pool_stats().created, 1u);
}

TEST(Tls, AWrongCaIsRefused) {
  std::string url = pg_url_or_skip(), wrong = test::env_or_empty("PLEXUS_TEST_PG_TLS_WRONG_CA");
  if (url.empty() || wrong.empty()) GTEST_SKIP() << "PLEXUS_TEST_PG_URL / PLEXUS_TEST_PG_TLS_WRONG_CA not set";
  DatabaseConfig cfg;
  auto& c = cfg.add("secure", url);
  c.options["sslmode"] = "verify-full";
  c.options["sslrootcert"] = wrong;
  Database db(cfg);
  try {
    (void)db.connection("secure").select("SELECT 1");
    FAIL() << "connected although the certificate is not signed by the given CA";
  } catch (const ConnectionError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("certificate verify failed"), std::string::npos) << w;
    EXPECT_NE(w.find("connection 'secure'"), std::string::npos) << w;
    EXPECT_EQ(w.find(c.password), std::string::npos) << "the password leaked into: " << w;
  }
}

TEST(Secrets, AWrongPasswordNeverAppearsAnywhere) {
  for (const char* var : {"PLEXUS_TEST_PG_URL", "PLEXUS_TEST_MYSQL_URL"}) {
    std::string url = test::env_or_empty(var);
    if (url.empty()) continue;
    auto parsed = parse_url(url);
    const std::string secret = "Wr0ng-S3cret-" + std::string(var);
    parsed.password = secret;
    DatabaseConfig cfg;
    cfg.add("guarded", parsed);
    Database db(cfg);
    std::string seen;
    db.on_error([&](const QueryEvent& ev) {
      seen += std::string(ev.sql) + " " + ev.error->what();
      for (const auto& b : ev.bindings) seen += b.to_string();
    });
    try {
      (void)db.connection("guarded").select("SELECT ?", {"bound-value"});
      ADD_FAILURE() << var << ": a wrong password was accepted";
    } catch (const ConnectionError& e) {
      seen += e.what();
    }
    seen += db.config().to_string() + db.connection("guarded").config().to_string();
    for (const auto& h : db.health())
      for (const auto& hh : h.hosts) seen += hh.error + hh.host;
    EXPECT_EQ(seen.find(secret), std::string::npos) << var << ": the password leaked into: " << seen;
    EXPECT_NE(seen.find("cannot connect to"), std::string::npos) << "the error should say what failed: " << seen;
  }
}

TEST(Secrets, RedactedEventsCarryNoBoundValues) {
  DatabaseConfig cfg;
  cfg.add("mem", sqlite(":memory:"));
  Database db(cfg);
  auto& c = db.connection("mem");
  c.redact_bindings(true);
  std::string seen;
  c.on_after_query([&](const QueryEvent& ev) {
    for (const auto& b : ev.bindings) seen += b.to_string();
  });
  c.on_error([&](const QueryEvent& ev) { seen += ev.error->what(); });
  (void)c.select("SELECT ?", {"card-4111111111111111"});
  EXPECT_THROW((void)c.select("SELECT nope(?)", {"card-4111111111111111"}), SyntaxError);
  EXPECT_EQ(seen.find("4111111111111111"), std::string::npos) << seen;
}

// Generated passwords with every URL-special character, through every path
// that fails on a real server: login refused, nothing listening, TLS refused;
// the error, the error hooks, health and every to_string() stay clean.
TEST(Secrets, GeneratedPasswordsNeverShowWhenConnectingFails) {
  struct Target {
    std::string env, ca_env;
  };
  std::size_t tried = 0;
  std::mt19937_64 rng(test::secret_seed());
  for (const Target& t : {Target{"PLEXUS_TEST_PG_URL", "PLEXUS_TEST_PG_TLS_WRONG_CA"}, Target{"PLEXUS_TEST_MYSQL_URL", ""}}) {
    const std::string url = test::env_or_empty(t.env);
    if (url.empty()) continue;
    for (int i = 0; i < 12; ++i) {
      const std::string pw = test::random_password(rng);
      DatabaseConfig cfg;
      auto base = parse_url(url);
      base.password = pw;
      base.pool.acquire_timeout = std::chrono::milliseconds(2000);
      cfg.add("login", base);  // the server refuses the login
      auto nothing = base;
      nothing.hosts.at(0).port = 1;
      cfg.add("nothing", nothing);  // nobody listens
      if (const std::string wrong = test::env_or_empty(t.ca_env); !wrong.empty()) {
        auto tls = base;
        tls.options["sslmode"] = "verify-full";
        tls.options["sslrootcert"] = wrong;
        cfg.add("tls", tls);  // the certificate is not trusted
      }
      Database db(cfg);
      std::string seen;
      db.on_error([&](const QueryEvent& ev) { seen += std::string(ev.sql) + (ev.error ? ev.error->what() : ""); });
      for (const auto& name : db.connection_names()) {
        ++tried;
        auto& c = db.connection(name);
        try {
          (void)c.select("SELECT 1");
          ADD_FAILURE() << name << " connected with a wrong password";
        } catch (const Error& e) {
          EXPECT_TRUE(e.is_connection_refused()) << e.what();
          seen += e.what() + e.hint() + e.message();
        }
        seen += c.config().to_string() + (c.is_connected() ? "" : "down");
        for (const auto& h : c.health().hosts) seen += h.error + h.host;
      }
      seen += db.config().to_string();
      EXPECT_EQ(seen.find(pw), std::string::npos) << "the password " << test::printable(pw) << " leaked into: " << seen;
    }
  }
  if (tried == 0) GTEST_SKIP() << "no server URLs in the environment: run ./scripts/test";
  std::printf("figures: secrets (login refused, nothing listening, TLS refused, hooks, health): tried %zu, shown 0\n",
              tried);
}

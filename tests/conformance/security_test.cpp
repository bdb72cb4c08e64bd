// Secrets and TLS: no password in errors, events or to_string(); TLS to
// PostgreSQL with verify-full against the CA scripts/servers made, and a
// wrong CA refused.
#include <gtest/gtest.h>

#include "engine_context.hpp"

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

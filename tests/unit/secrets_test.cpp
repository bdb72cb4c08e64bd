// Secrets, with generated passwords that use every character a URL treats
// specially: through URL parsing (valid and broken URLs), TOML files and
// environment interpolation, and every to_string(), the password never shows.
// (The paths that need a server: connect refused, login and TLS failures,
// hooks, health, are in tests/conformance/security_test.cpp.)
#include <gtest/gtest.h>

#include <random>

#include "plexus/plexus.hpp"
#include "secret_gen.hpp"

using namespace plexus;

namespace {

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// A password with an unencoded '@' followed by '/', '?' or '#', or a '/'
/// followed by '?', has more than one reading as a URL (and '%' starts an
/// escape); only the "never shown" property holds for those.
bool readable_raw(const std::string& pw) {
  auto at = pw.find('@'), slash = pw.find('/');
  return pw.find('%') == std::string::npos &&
         (at == std::string::npos || pw.find_first_of("/?#", at) == std::string::npos) &&
         (slash == std::string::npos || pw.find('?', slash) == std::string::npos);
}

void expect_hidden(const std::string& text, const std::string& pw, const std::string& where) {
  EXPECT_EQ(text.find(pw), std::string::npos) << where << ": the password " << test::printable(pw) << " leaked into: "
                                              << test::printable(text);
}

}  // namespace

TEST(Secrets, GeneratedPasswordsNeverShowFromUrlsTomlOrToString) {
  std::mt19937_64 rng(test::secret_seed());
  std::size_t tried = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string pw = test::random_password(rng);
    for (const std::string scheme : {"postgresql", "mysql"}) {
      // Encoded: always parses, to exactly the password.
      const std::string encoded = scheme + "://app:" + percent_encode(pw) + "@db.internal:5432/main?sslmode=disable";
      ++tried;
      auto c = parse_url(encoded);
      EXPECT_EQ(c.password, pw) << test::printable(encoded);
      c.name = "generated";
      expect_hidden(c.to_string(), pw, "to_string");
      expect_hidden(redact_url(encoded), pw, "redact_url");

      // Raw, as users paste them: parses to the password or fails, never shows it.
      for (const std::string& url :
           {scheme + "://app:" + pw + "@db.internal:5432/main", scheme + "://app:" + pw + "@db.internal:notaport/main",
            scheme + "://app:" + pw + "@/main", scheme + "://app:" + pw + "@h1:1,,h2/main",
            scheme + "://db.internal/main?user=app&password=" + pw + "&sslmode=disable",
            scheme + "://db.internal/main?password=" + pw + "&password=" + pw, scheme + ":/app:" + pw + "@h/main",
            "app:" + pw + "@h/main"}) {
        ++tried;
        expect_hidden(redact_url(url), pw, "redact_url");
        try {
          auto parsed = parse_url(url);
          if (readable_raw(pw) && url.find("@db.internal:5432") != std::string::npos) {
            EXPECT_EQ(parsed.password, pw) << test::printable(url);
          }
          parsed.name = "raw";
          expect_hidden(parsed.to_string(), pw, "to_string of a raw URL");
        } catch (const ConfigError& e) {
          expect_hidden(e.what(), pw, "the URL error");
        }
      }

      // TOML: a password key, a url key, and ${VAR} from the environment.
      ++tried;
      const auto env = Env::from_map({{"DB_PASSWORD", pw}, {"DB_URL", encoded}});
      const std::string toml = "[connections.a]\ndriver = \"" + scheme +
                               "\"\nhost = \"h\"\ndatabase = \"d\"\nusername = \"u\"\npassword = \"${DB_PASSWORD}\"\n"
                               "[connections.b]\nurl = \"${DB_URL}\"\n";
      auto cfg = DatabaseConfig::from_toml_string(toml, "generated.toml", env);
      EXPECT_EQ(cfg.find("a")->password, pw);
      EXPECT_EQ(cfg.find("b")->password, pw);
      expect_hidden(cfg.to_string(), pw, "DatabaseConfig::to_string");
      // The password's text spelled where text is shown: another connection's
      // name, which is also the default connection.
      DatabaseConfig spelled = cfg;
      spelled.add("copy_" + pw + "_of_a", *cfg.find("a")).password.clear();
      spelled.default_connection = "copy_" + pw + "_of_a";
      expect_hidden(spelled.to_string(), pw, "DatabaseConfig::to_string with the password in a name");
      // A broken file around it: the error names the key, never the value.
      try {
        auto bad = DatabaseConfig::from_toml_string(
            toml + "[connections.c]\nurl = \"" + scheme + "://u:${DB_PASSWORD}@h:bad/d\"\n", "generated.toml", env);
        // Only a password with two readings can hide the bad port.
        EXPECT_FALSE(readable_raw(pw)) << "a bad port was accepted with the password " << test::printable(pw);
        expect_hidden(bad.to_string(), pw, "to_string of a misread URL");
      } catch (const ConfigError& e) {
        expect_hidden(e.what(), pw, "the TOML error");
      }
    }
  }
  std::printf("figures: secrets (URL, TOML, env, to_string): tried %zu passwords in place, shown 0\n", tried);
}

TEST(Url, PasswordsWithReservedCharactersParseWhereTheReadingIsUnique) {
  EXPECT_EQ(parse_url("postgresql://plexus:hunter?2xyz@127.0.0.1:5432/db").password, "hunter?2xyz");
  EXPECT_EQ(parse_url("postgresql://plexus:pa/ss@127.0.0.1:5432/db").password, "pa/ss");
  EXPECT_EQ(parse_url("postgresql://plexus:p@ss@h/db").password, "p@ss");
  EXPECT_EQ(parse_url("postgresql://u:p@h/db?application_name=me@home").options.at("application_name"), "me@home");
  try {
    (void)parse_url("postgresql://u:x@h/y@host/db");
    FAIL() << "two readings: refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("percent-encode"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("x@h/y"), std::string::npos) << e.what();
  }
  EXPECT_EQ(redact_url("postgresql://h/d?Password=a&b&sslpassword=c&x=1&PASSWORD=d"),
            "postgresql://h/d?Password=***&sslpassword=***&x=1&PASSWORD=***");
}

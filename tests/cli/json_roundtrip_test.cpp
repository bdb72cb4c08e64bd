// The plexus command's JSON, read back by a JSON parser: generated column
// names and values (every byte value, text that is not UTF-8, NaN, the
// infinities, -0.0, the largest integers, NULL beside the text "NULL",
// bytes) through `query --json`, and generated passwords spelled like JSON
// tokens and keys through `config --json`, must give valid JSON that reads
// back to exactly what the library reads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "plexus/plexus.hpp"

using namespace plexus;
namespace fs = std::filesystem;

namespace {

struct CliRun {
  int rc = -1;
  std::string out;
};

CliRun run_cli(const std::string& args) {
  const char* cli = std::getenv("PLEXUS_CLI");
  CliRun r;
  if (!cli) return r;
  FILE* p = ::popen((std::string(cli) + " " + args + " 2>/dev/null").c_str(), "r");
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  r.rc = ::pclose(p);
  return r;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

/// A JSON cell as the Value it stands for (the encoding docs/cli.md gives).
Value decode(const nlohmann::json& j) {
  if (j.is_null()) return {};
  if (j.is_boolean()) return Value(j.get<bool>());
  if (j.is_number_integer()) return Value(j.get<std::int64_t>());
  if (j.is_number_float()) return Value(j.get<double>());
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.contains("real")) {
    const auto name = j["real"].get<std::string>();
    return Value(name == "NaN" ? std::numeric_limits<double>::quiet_NaN()
                               : (name == "Infinity" ? 1 : -1) * std::numeric_limits<double>::infinity());
  }
  if (j.contains("text_hex")) return Value(unhex(j["text_hex"].get<std::string>()));
  if (j.contains("bytes_hex")) {
    const std::string b = unhex(j["bytes_hex"].get<std::string>());
    return Value(Bytes(std::vector<std::uint8_t>(b.begin(), b.end())));
  }
  ADD_FAILURE() << "an unknown encoding: " << j.dump();
  return {};
}

std::string name_of(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : unhex(j.at("text_hex").get<std::string>());
}

bool same(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  if (a.type() == Value::Type::real) {
    const double x = a.raw_real(), y = b.raw_real();
    return (std::isnan(x) && std::isnan(y)) || (x == y && std::signbit(x) == std::signbit(y));
  }
  return a == b;
}

std::string random_text(std::mt19937_64& rng, bool allow_nul) {
  std::string s;
  const std::size_t n = rng() % 12;
  for (std::size_t i = 0; i < n; ++i) {
    switch (rng() % 5) {
      case 0: s += static_cast<char>(rng() % 256); break;                 // any byte
      case 1: s += "\\n\"\\\\x00C:\\new"[rng() % 13]; break;             // escapes' look-alikes
      case 2: s += "Grüße 世界 🌍"; break;                                 // valid multi-byte text
      case 3: s += static_cast<char>(0x80 + rng() % 64); break;           // a lone continuation byte
      default: s += static_cast<char>('a' + rng() % 26);
    }
  }
  if (!allow_nul) std::erase(s, '\0');
  return s;
}

}  // namespace

class CliJson : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("PLEXUS_CLI")) GTEST_SKIP() << "PLEXUS_CLI is not set (ctest sets it)";
    dir = fs::temp_directory_path() / ("plexus_cli_json_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(CliJson, GeneratedNamesAndValuesReadBackExactly) {
  const std::string file = (dir / "app.sqlite").string();
  std::ofstream(dir / "database.toml") << "[connections.app]\ndriver = \"sqlite\"\ndatabase = \"" << file << "\"\n";
  DatabaseConfig cfg;
  cfg.add("app", sqlite(file));
  Database db(cfg);
  auto& app = db.connection("app");
  app.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, x)");
  std::mt19937_64 rng(20261207);
  const std::vector<Value> fixed = {Value(), Value("NULL"), Value("null"), Value(std::numeric_limits<double>::infinity()),
                                    Value(-std::numeric_limits<double>::infinity()), Value(-0.0), Value(0.0), Value(1.0),
                                    Value(1e300), Value(std::numeric_limits<std::int64_t>::max()),
                                    Value(std::numeric_limits<std::int64_t>::min()), Value("C:\\new"), Value("\\x41"),
                                    Value(std::string("a\0b", 3)), Value(Bytes(std::vector<std::uint8_t>{0, 255, 10}))};
  std::int64_t id = 0;
  for (const auto& v : fixed) app.execute("INSERT INTO v (id, x) VALUES (?, ?)", {++id, v});
  for (int i = 0; i < 200; ++i) {
    Value v;
    switch (rng() % 4) {
      case 0: v = Value(random_text(rng, true)); break;
      case 1: v = Value(static_cast<std::int64_t>(rng())); break;
      case 2: v = Value(std::ldexp(static_cast<double>(rng() % 1000000) - 500000, static_cast<int>(rng() % 200) - 100)); break;
      default: {
        const std::string b = random_text(rng, true);
        v = Value(Bytes(std::vector<std::uint8_t>(b.begin(), b.end())));
      }
    }
    app.execute("INSERT INTO v (id, x) VALUES (?, ?)", {++id, v});
  }
  // Generated column names: every byte but NUL, a doubled quote inside.
  for (int round = 0; round < 8; ++round) {
    std::string sql = "SELECT id";
    std::vector<std::string> names{"id"};
    for (int c = 0; c < 3; ++c) {
      std::string name = random_text(rng, false);
      if (name.empty()) name = "e";
      names.push_back(name);
      std::string quoted;
      for (char ch : name) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      sql += ", x AS \"" + quoted + "\"";
    }
    sql += " FROM v ORDER BY id";
    std::ofstream(dir / "q.sql", std::ios::binary) << sql;
    const CliRun r = run_cli("query -c " + (dir / "database.toml").string() + " app --file " + (dir / "q.sql").string() + " --json");
    ASSERT_EQ(r.rc, 0) << r.out;
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << "not JSON: " << r.out.substr(0, 400);
    const Result expected = app.select(sql);
    ASSERT_EQ(j["columns"].size(), names.size());
    for (std::size_t c = 0; c < names.size(); ++c)
      EXPECT_EQ(name_of(j["columns"][c]), std::string(expected.columns()[c])) << "column " << c;
    ASSERT_EQ(j["rows"].size(), expected.size());
    std::size_t k = 0;
    for (Row row : expected) {
      for (std::size_t c = 0; c < row.size(); ++c) {
        const Value got = decode(j["rows"][k][c]);
        EXPECT_TRUE(same(got, row[c])) << "row " << k << " column " << c << ": " << j["rows"][k][c].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                       << " read back as " << got.to_string() << ", the library reads " << row[c].to_string();
      }
      ++k;
    }
  }
}

TEST_F(CliJson, PasswordsSpelledLikeJsonTokensAndKeysStayMaskedAndTheJsonIntact) {
  for (const std::string pw : {"false", "true", "null", "5000", "name", "hosts", "connections", "***", "\"}", "\\u0041",
                               "sqlite", "password", "app-db-pass"}) {
    std::string escaped;
    for (char c : pw) escaped += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    std::ofstream(dir / "config.toml") << "[connections.app]\ndriver = \"postgresql\"\nhost = \"127.0.0.1\"\ndatabase = \"shop\"\n"
                                          "username = \"svc\"\npassword = \""
                                       << escaped << "\"\n";
    const CliRun r = run_cli("config -c " + (dir / "config.toml").string() + " --json");
    ASSERT_EQ(r.rc, 0) << pw << ": " << r.out;
    nlohmann::json j;
    ASSERT_NO_THROW(j = nlohmann::json::parse(r.out)) << pw << ": " << r.out;
    const auto& c = j.at("connections").at(0);
    EXPECT_EQ(c.at("name"), "app") << pw;
    EXPECT_EQ(c.at("password"), "***") << pw;
    EXPECT_TRUE(c.at("hosts").is_array()) << pw;
    EXPECT_TRUE(c.at("sticky").is_boolean()) << pw;
    EXPECT_EQ(c.at("pool").at("acquire_timeout_ms"), 5000) << pw;
    EXPECT_EQ(c.at("database"), "shop") << pw;
    // Nowhere a string value holding the password (four characters or more).
    if (pw.size() >= 4 && pw != "***") {
      const std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
        if (v.is_string()) EXPECT_EQ(v.get<std::string>().find(pw), std::string::npos) << pw << " in " << v;
        else if (v.is_structured()) for (const auto& x : v) walk(x);
      };
      walk(j);
    }
  }
}

// Property tests with generated inputs, on every engine: values written and
// read back (equal, or refused with a clear error: never stored as something
// else) and SQL texts (do exactly what they say, or raise UsageError before
// anything runs). The seed is fixed so a failure reproduces; set
// PLEXUS_PROPERTY_SEED to try others. Each test prints one "figures:" line
// that docs/reliability.md quotes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>

#include "conformance_fixture.hpp"
#include "runners.hpp"

using namespace plexus;
using namespace plexus::test;
using namespace std::chrono;

namespace {

std::uint64_t property_seed() {
  const std::string s = env_or_empty("PLEXUS_PROPERTY_SEED");
  return s.empty() ? 20261130 : std::stoull(s);
}

/// Random text: printable ASCII, quotes and backslashes, NUL and control
/// bytes, valid multi-byte UTF-8 and invalid UTF-8 sequences.
std::string random_text(std::mt19937_64& rng, std::size_t max_len) {
  static const std::vector<std::string> pieces = {
      "a", "Z", "0", " ", "'", "\"", "\\", "?", ";", "--", "/*", "%", "_", std::string(1, '\0'), "\x01", "\n", "\t",
      "\x7f", "é", "世", "🌍", "\xff", "\xc3", "\xc0\x80", "\xed\xa0\x80", "NULL", "$1", "`"};
  std::uniform_int_distribution<std::size_t> len(0, max_len), pick(0, pieces.size() - 1);
  std::string out;
  const std::size_t n = len(rng);
  while (out.size() < n) out += pieces[pick(rng)];
  return out;
}

Bytes random_bytes(std::mt19937_64& rng, std::size_t max_len) {
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::vector<std::uint8_t> b(len(rng));
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return Bytes(std::move(b));
}

double random_double(std::mt19937_64& rng, std::size_t i) {
  static const double special[] = {std::numeric_limits<double>::quiet_NaN(),
                                   std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity(),
                                   -0.0,
                                   0.0,
                                   std::numeric_limits<double>::min(),
                                   std::numeric_limits<double>::denorm_min(),
                                   std::numeric_limits<double>::max(),
                                   -std::numeric_limits<double>::max(),
                                   1e-300,
                                   3.141592653589793,
                                   0.1};
  if (i < std::size(special)) return special[i];
  for (;;) {  // a random bit pattern that is a finite number
    const double d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) return d;
  }
}

std::int64_t random_int(std::mt19937_64& rng, std::size_t i) {
  static const std::int64_t special[] = {0, 1, -1, std::numeric_limits<std::int64_t>::min(),
                                         std::numeric_limits<std::int64_t>::max(), (std::int64_t{1} << 53) + 1,
                                         -(std::int64_t{1} << 53) - 1, 2147483648LL, -2147483649LL};
  if (i < std::size(special)) return special[i];
  return static_cast<std::int64_t>(rng());
}

Date random_date(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> y(1000, 9999), m(1, 12), d(1, 28);
  return Date{year{y(rng)}, month{static_cast<unsigned>(m(rng))}, day{static_cast<unsigned>(d(rng))}};
}

Time random_time(std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> us(0, 86'400'000'000LL - 1);
  return Time{microseconds{us(rng)}};
}

Timestamp random_timestamp(std::mt19937_64& rng, std::size_t i) {
  // Some come from text with a time zone offset, as an application would parse them.
  if (i % 4 == 0) {
    std::uniform_int_distribution<int> h(-12, 14), mi(0, 3);
    char buf[64];
    const Date d = random_date(rng);
    const auto t = random_time(rng).since_midnight;
    const int off = h(rng);
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lld%c%02d:%02d", static_cast<int>(d.year()),
                  static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()),
                  static_cast<long long>(duration_cast<hours>(t).count()),
                  static_cast<long long>(duration_cast<minutes>(t).count() % 60),
                  static_cast<long long>(duration_cast<seconds>(t).count() % 60),
                  static_cast<long long>(t.count() % 1'000'000), off < 0 ? '-' : '+', std::abs(off), mi(rng) * 15);
    const Timestamp ts = parse_timestamp(buf);
    // Keep inside the range every engine stores (MySQL DATETIME: years 1000-9999).
    if (year_month_day(floor<days>(ts)).year() >= year{1000} && year_month_day(floor<days>(ts)).year() <= year{9999})
      return ts;
  }
  return Timestamp(sys_days(random_date(rng))) + random_time(rng).since_midnight;
}

/// Equal as stored values: doubles as numbers, exactly (NaN matches NaN;
/// -0.0 equals 0.0: SQLite and MariaDB do not keep the sign of zero, see
/// docs/engines.md).
bool same(const Value& a, const Value& b) {
  if (a.type() == Value::Type::real && b.type() == Value::Type::real) {
    const double x = a.raw_real(), y = b.raw_real();
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
    return x == y;
  }
  return a == b;
}

std::string show(const Value& v) {
  std::string s = v.is_null() ? "NULL" : std::string(Value::type_name(v.type())) + " ";
  if (v.is_null()) return s;
  std::string text = v.type() == Value::Type::real ? std::to_string(v.raw_real()) : v.to_string();
  if (text.size() > 60) text = text.substr(0, 60) + "… (" + std::to_string(text.size()) + " bytes)";
  for (char c : text) s += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '.' : c;
  return s;
}

}  // namespace

TEST_P(Conformance, GeneratedValuesRoundTripOrAreRefused) {
  struct Column {
    std::string name, type;
    std::function<Value(std::mt19937_64&, std::size_t)> make;
    std::function<Value(const Value&)> read;  // how a Value of this column reads back
  };
  auto as = [](auto tag) {
    return [](const Value& v) -> Value {
      using T = decltype(tag);
      return v.is_null() ? Value() : Value(v.as<T>());
    };
  };
  std::vector<Column> columns = {
      {"t", ctx.long_text, [](auto& rng, std::size_t) { return Value(random_text(rng, 300)); }, as(std::string())},
      {"y", ctx.blob, [](auto& rng, std::size_t) { return Value(random_bytes(rng, 300)); }, as(Bytes())},
      {"r", ctx.real, [](auto& rng, std::size_t i) { return Value(random_double(rng, i)); }, as(0.0)},
      {"i", ctx.bigint, [](auto& rng, std::size_t i) { return Value(random_int(rng, i)); }, as(std::int64_t())},
      {"b", ctx.boolean, [](auto& rng, std::size_t) { return Value(rng() % 2 == 0); }, as(true)},
      {"d", ctx.date, [](auto& rng, std::size_t) { return Value(random_date(rng)); }, as(Date())},
      {"tm", ctx.time, [](auto& rng, std::size_t) { return Value(random_time(rng)); }, as(Time())},
      {"ts", ctx.timestamp, [](auto& rng, std::size_t i) { return Value(random_timestamp(rng, i)); }, as(Timestamp())},
  };
  std::string ddl = "CREATE TABLE " + table + " (id " + ctx.bigint + " PRIMARY KEY";
  for (const auto& c : columns) ddl += ", " + c.name + " " + c.type;
  conn->execute(ddl + ")");

  std::mt19937_64 rng(property_seed());
  std::int64_t id = 0;
  std::size_t tried = 0, refused = 0, failures = 0;
  std::map<std::string, std::size_t> reasons;  // why values were refused, for the report
  auto attempt = [&](const Column& c, const Value& v) {
    ++tried;
    const std::int64_t row = ++id;
    try {
      conn->execute("INSERT INTO " + table + " (id, " + c.name + ") VALUES (?, ?)", {row, v});
    } catch (const Error& e) {
      ++refused;
      const std::string& m = e.message();
      ++reasons[c.name + ": " + m.substr(0, std::min(m.find_first_of("0123456789'(:"), std::size_t{60}))];
      // Refused is fine when it says why and nothing was stored.
      EXPECT_TRUE(e.kind() == ErrorKind::usage || e.kind() == ErrorKind::conversion) << e.what();
      EXPECT_EQ(conn->scalar("SELECT count(*) FROM " + table + " WHERE id = ?", {row}).as<int>(), 0)
          << "a refused value left a row behind: " << show(v);
      return;
    }
    const Value stored = conn->scalar("SELECT " + c.name + " FROM " + table + " WHERE id = ?", {row});
    Value back;
    try {
      back = c.read(stored);
    } catch (const Error& e) {
      ADD_FAILURE() << c.name << ": " << show(v) << " was stored as " << show(stored) << ", which does not read back: "
                    << e.what();
      ++failures;
      return;
    }
    if (!same(back, v)) {
      ++failures;
      ADD_FAILURE() << "column " << c.name << " (" << c.type << "): wrote " << show(v) << ", read back " << show(back)
                    << " (seed " << property_seed() << ")";
    }
  };
  for (const auto& c : columns) {
    attempt(c, Value());
    for (std::size_t i = 0; i < 60; ++i) attempt(c, c.make(rng, i));
  }
  // Large values: 16 MB of text with a NUL in the middle, and of bytes.
  std::string big(16u << 20, 'x');
  big[big.size() / 2] = '\0';
  attempt(columns[0], Value(big));
  big[big.size() / 2] = 'y';
  attempt(columns[0], Value(big));
  attempt(columns[1], Value(Bytes(big)));
  EXPECT_EQ(failures, 0u);
  std::printf("figures: values %s: tried %zu, refused %zu, stored as something else %zu\n", ctx.name.c_str(), tried,
              refused, failures);
  for (const auto& [why, n] : reasons) std::printf("  refused %zu× %s\n", n, why.c_str());
}

namespace {

/// Any row at all (select_as needs a type).
struct AnyRow {
  static AnyRow from_row(Row) { return {}; }
};

std::vector<Runner> runners() {
  std::vector<Runner> all = {
      {"select", [](SingleTarget& q, const std::string& s, std::span<const Value> p) { (void)q.select(s, p); }},
      {"execute", [](SingleTarget& q, const std::string& s, std::span<const Value> p) { (void)q.execute(s, p); }},
      {"select_as",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) {
         (void)q.select_as<AnyRow>(s, p);
       }},
      {"cursor",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) {
         auto c = q.cursor(s, p);
         for (Row r : c) (void)r;
       }},
      {"execute_batch",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) {
         std::vector<std::vector<Value>> sets{std::vector<Value>(p.begin(), p.end())};
         (void)q.execute_batch(s, sets);
       }},
      {"select_batch",
       [](SingleTarget& q, const std::string& s, std::span<const Value> p) {
         std::vector<std::vector<Value>> sets{std::vector<Value>(p.begin(), p.end())};
         (void)q.select_batch(s, sets);
       }},
  };
#ifdef PLEXUS_HAS_ASYNC
  for (auto& r : async_runners()) all.push_back(std::move(r));  // the same statements through the asynchronous API
#endif
  return all;
}

}  // namespace

TEST_P(Conformance, GeneratedStatementsDoWhatTheySayOrAreRefused) {
  const std::string t = table;
  conn->execute("CREATE TABLE " + t + " (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
  for (int i = 1; i <= 5; ++i) conn->execute("INSERT INTO " + t + " (id, v) VALUES (?, ?)", {i, i * 10});
  const std::string sentinel = "SELECT count(*), sum(v) FROM " + t;
  const auto before = conn->select(sentinel);
  auto unchanged = [&] {
    const auto now = conn->on_primary().select(sentinel);
    return now[0][0].as<std::int64_t>() == before[0][0].as<std::int64_t>() &&
           now[0][1].as<std::int64_t>() == before[0][1].as<std::int64_t>();
  };

  // A routed connection with a replica, where the engine has one: usage
  // errors must not touch routing or host health.
  std::unique_ptr<Database> routed_db;
  SingleTarget* routed = nullptr;
  if (const std::string rep = env_or_empty(ctx.replica_env); !rep.empty()) {
    DatabaseConfig rc;
    auto& c = rc.add("routed", *cfg.find("main"));
    c.read_hosts = parse_url(rep).hosts;
    routed_db = std::make_unique<Database>(rc);
    routed = &routed_db->connection("routed");
  }

  const std::vector<std::string> writes = {"DELETE FROM " + t, "DELETE FROM " + t + " WHERE id = 1",
                                           "UPDATE " + t + " SET v = 0", "INSERT INTO " + t + " (id, v) VALUES (99, 1)",
                                           "DROP TABLE " + t};
  const std::vector<std::string> reads = {"SELECT v FROM " + t + " WHERE id = 1", "SELECT count(*) FROM " + t,
                                          "SELECT 1"};
  const std::vector<std::string> trailers = {";", " ; ", " -- note", "; -- note", " /* c */", ";\n-- a\n/* b */ ;", "\n"};
  std::mt19937_64 rng(property_seed());
  auto pick = [&](const auto& v) -> const auto& { return v[rng() % v.size()]; };

  std::size_t tried = 0, refused = 0, failures = 0;
  auto expect_refused = [&](const std::string& sql, std::span<const Value> params, const char* why) {
    for (const auto& r : runners()) {
      for (SingleTarget* q : {static_cast<SingleTarget*>(conn), routed}) {
        if (!q) continue;
        ++tried;
        try {
          r.run(*q, sql, params);
          ++failures;
          ADD_FAILURE() << r.name << " ran " << why << ": " << sql;
        } catch (const UsageError&) {
          ++refused;
        } catch (const Error& e) {
          // Unbalanced quotes are the engine's to refuse: a syntax error.
          if (std::string(why) != "an unbalanced quote" || e.kind() != ErrorKind::syntax) {
            ++failures;
            ADD_FAILURE() << r.name << " on " << why << " raised " << e.what() << " instead of a UsageError";
          } else {
            ++refused;
          }
        }
        if (!unchanged()) {
          ++failures;
          ADD_FAILURE() << r.name << " changed the table with " << why << ": " << sql;
          return;
        }
      }
    }
  };

  for (int round = 0; round < 12; ++round) {
    // A NUL byte anywhere: refused before anything is sent.
    for (const auto& base : {pick(writes), pick(reads)}) {
      std::string sql = base;
      sql.insert(rng() % (sql.size() + 1), 1, '\0');
      expect_refused(sql, {}, "a NUL byte in the SQL text");
    }
    // Several statements in one call: refused, nothing of it runs.
    expect_refused(pick(reads) + "; " + pick(writes), {}, "several statements");
    expect_refused(pick(writes) + ";" + pick(reads) + pick(trailers), {}, "several statements");
    // A wrong number of values: refused client-side on every engine.
    const std::vector<Value> values = {Value(1), Value(2), Value(3)};
    const std::size_t n = rng() % 4;
    const std::string one = "SELECT v FROM " + t + " WHERE id = ?";
    if (n != 1) expect_refused(one, std::span<const Value>(values.data(), n), "a wrong number of values");
    const std::string two = "UPDATE " + t + " SET v = ? WHERE id = ?";
    if (n != 2) expect_refused(two, std::span<const Value>(values.data(), n), "a wrong number of values");
  }
  // Unbalanced quotes: the engine refuses them; nothing runs.
  for (const auto& sql : {std::string("DELETE FROM ") + t + " WHERE v = 'x", "SELECT 'abc FROM " + t,
                          "UPDATE " + t + " SET v = 1 WHERE 'a' = 'a"})
    expect_refused(sql, {}, "an unbalanced quote");

  // Trailing blanks and comments change nothing: the statement runs as written.
  for (const auto& trailer : trailers) {
    ++tried;
    try {
      auto r = conn->select("SELECT v FROM " + t + " WHERE id = ? AND v > -1" + trailer, {2});
      if (r.size() != 1 || r[0][0].as<int>() != 20) {
        ++failures;
        ADD_FAILURE() << "a trailing '" << trailer << "' changed the result";
      }
      EXPECT_EQ(conn->execute("UPDATE " + t + " SET v = v WHERE id = 3" + trailer).affected_rows(), 1u) << trailer;
    } catch (const Error& e) {
      ++failures;
      ADD_FAILURE() << "a trailing '" << trailer << "' was refused: " << e.what();
    }
  }
  // Question marks inside literals and comments are not placeholders.
  ++tried;
  EXPECT_EQ(conn->scalar("SELECT '?' FROM " + t + " WHERE id = ? /* ? */", {1}).as<std::string>(), "?")
      << "literal question mark";

  EXPECT_TRUE(unchanged());
  if (routed) {
    auto& rc = routed_db->connection("routed");
    auto h = rc.health();
    ASSERT_EQ(h.hosts.size(), 2u);
    EXPECT_FALSE(h.hosts[1].ejected) << "a usage error ejected a healthy replica";
    std::string role;
    rc.on_after_query([&](const QueryEvent& e) { role = std::string(e.role); });
    (void)rc.select("SELECT 1");
    EXPECT_EQ(role, "replica") << "reads still go to the replica after usage errors";
  }
  EXPECT_EQ(failures, 0u);
  std::printf("figures: statements %s: tried %zu, refused %zu, did something else %zu\n", ctx.name.c_str(), tried,
              refused, failures);
}

namespace {

/// How one read of a column into F ended: the value, or the error's kind and message.
template <class F>
struct Outcome {
  std::optional<F> value;
  std::string error;
};

template <class F>
bool same_outcome(const Outcome<F>& a, const Outcome<F>& b) {
  if (a.error != b.error || a.value.has_value() != b.value.has_value()) return false;
  if (!a.value) return true;
  if constexpr (std::is_same_v<F, double>) {
    if (std::isnan(*a.value) || std::isnan(*b.value)) return std::isnan(*a.value) && std::isnan(*b.value);
  }
  return *a.value == *b.value;
}

template <class F>
std::string show_outcome(const Outcome<F>& o) {
  if (!o.value) return "error: " + o.error;
  if constexpr (std::is_same_v<F, std::optional<std::int64_t>> || std::is_same_v<F, std::optional<std::string>>)
    return *o.value ? show(Value(**o.value)) : "nullopt";
  else return show(Value(*o.value));
}

template <class F>
Outcome<F> outcome_of(const std::function<F()>& read) {
  Outcome<F> o;
  try {
    o.value = read();
  } catch (const Error& e) {
    o.error = std::string(e.kind() == ErrorKind::conversion ? "conversion: " : "other: ") + e.message();
  }
  return o;
}

/// Every row of `column` read into F through a typed read (straight from the
/// engine's row where it can) and through the row's Value: both must end alike.
template <class F>
std::size_t compare_typed_reads(Queryable& q, const std::string& table, const std::string& column,
                                std::int64_t rows, const char* type_name) {
  std::size_t differ = 0;
  const std::string sql = "SELECT " + column + " FROM " + table + " WHERE id = ?";
  for (std::int64_t id = 1; id <= rows; ++id) {
    const auto typed = outcome_of<F>([&] { return std::get<0>(*q.select_one_as<std::tuple<F>>(sql, {id})); });
    const auto via_value = outcome_of<F>([&] { return q.select(sql, {id})[0][0].template as<F>(); });
    if (!same_outcome(typed, via_value)) {
      ++differ;
      ADD_FAILURE() << "column " << column << " row " << id << " into " << type_name << ": typed read "
                    << show_outcome(typed) << ", the Value's " << show_outcome(via_value);
    }
  }
  return differ;
}

}  // namespace

TEST_P(Conformance, TypedReadsConvertExactlyAsTheRowsValuesDo) {
  // Columns of each kind and, on SQLite, one of no type affinity holding
  // every storage class; rows of generated values, nulls among them.
  const bool sqlite = ctx.name == "sqlite";
  std::vector<std::pair<std::string, std::string>> columns = {
      {"t", ctx.long_text}, {"r", ctx.real}, {"i", ctx.bigint}, {"b", ctx.boolean}, {"d", ctx.date}, {"y", ctx.blob}};
  if (sqlite) columns.emplace_back("m", "ANY_KIND");  // SQLite: no affinity, any value as given
  std::string ddl = "CREATE TABLE " + table + " (id " + ctx.bigint + " PRIMARY KEY";
  for (const auto& [name, type] : columns) ddl += ", " + name + " " + type;
  conn->execute(ddl + ")");

  std::mt19937_64 rng(property_seed());
  const std::int64_t rows = 40;
  std::vector<std::string> numeric_texts = {"42", "-7", "3.5", "1e3", " 12", "0x10", "9223372036854775808", "", "true"};
  for (std::int64_t id = 1; id <= rows; ++id) {
    const std::size_t k = static_cast<std::size_t>(id);
    const bool null = id % 9 == 0;
    auto pick_text = [&] {  // text every engine stores (no NUL, valid UTF-8): what it holds is the point here
      if (k % 3 == 0) return Value(numeric_texts[k % numeric_texts.size()]);
      static const std::vector<std::string> pieces = {"a", "Z", "0", "9", " ", "'", "\\", "-", ".", "é", "世", "🌍"};
      std::string t;
      for (std::size_t n = rng() % 30; n > 0; --n) t += pieces[rng() % pieces.size()];
      return Value(t);
    };
    std::vector<Value> v = {
        null ? Value() : pick_text(),
        null ? Value() : Value(random_double(rng, k)),
        null ? Value() : Value(random_int(rng, k)),
        null ? Value() : Value(rng() % 2 == 0),
        null ? Value() : Value(random_date(rng)),
        null ? Value() : Value(random_bytes(rng, 20)),
    };
    if (sqlite) {
      switch (k % 5) {  // every storage class in one column
        case 0: v.emplace_back(); break;
        case 1: v.emplace_back(random_int(rng, k)); break;
        case 2: v.emplace_back(random_double(rng, k)); break;
        case 3: v.push_back(pick_text()); break;
        default: v.emplace_back(random_bytes(rng, 8)); break;
      }
    }
    std::string sql = "INSERT INTO " + table + " (id";
    for (const auto& c : columns) sql += ", " + c.first;
    sql += ") VALUES (?";
    for (std::size_t i = 0; i < columns.size(); ++i) sql += ", ?";
    std::vector<Value> params{Value(id)};
    for (auto& x : v) {
      // Not every engine stores every double (NaN, infinities): those rows keep a null.
      if (x.type() == Value::Type::real && !std::isfinite(x.raw_real()) && !sqlite) x = Value();
      params.push_back(std::move(x));
    }
    conn->execute(sql + ")", params);
  }

  std::size_t differ = 0, reads = 0;
  // first() keeps its row as Values (read through the engine's column source
  // where there is one): the same Values as the Result of the same read.
  for (std::int64_t id = 1; id <= rows; ++id) {
    const auto record = conn->table(table).where("id", id).first();
    const Result held = conn->select("SELECT * FROM " + table + " WHERE id = ?", {id});
    ASSERT_TRUE(record.has_value());
    ASSERT_EQ(record->columns().size(), held.columns().size());
    for (std::size_t i = 0; i < held.columns().size(); ++i) {
      ++reads;
      if (!same((*record)[i], held[0][i]) || (*record)[i].type() != held[0][i].type()) {
        ++differ;
        ADD_FAILURE() << "first() row " << id << " column " << held.columns()[i] << ": " << show((*record)[i])
                      << ", the Result's " << show(held[0][i]);
      }
    }
  }
  for (const auto& [column, type] : columns) {
    differ += compare_typed_reads<std::int64_t>(*conn, table, column, rows, "int64");
    differ += compare_typed_reads<int>(*conn, table, column, rows, "int");
    differ += compare_typed_reads<double>(*conn, table, column, rows, "double");
    differ += compare_typed_reads<std::string>(*conn, table, column, rows, "string");
    differ += compare_typed_reads<bool>(*conn, table, column, rows, "bool");
    differ += compare_typed_reads<std::optional<std::int64_t>>(*conn, table, column, rows, "optional<int64>");
    differ += compare_typed_reads<std::optional<std::string>>(*conn, table, column, rows, "optional<string>");
    differ += compare_typed_reads<Date>(*conn, table, column, rows, "Date");
    reads += 8 * static_cast<std::size_t>(rows);
  }
  EXPECT_EQ(differ, 0u);

  // A tuple wider than the row: the same out-of-range error both ways, naming the row's width.
  const std::string two = "SELECT id, t FROM " + table + " WHERE id = 1";
  for (int way = 0; way < 2; ++way) {
    try {
      if (way == 0) (void)conn->select_one_as<std::tuple<std::int64_t, std::string, double>>(two);
      else (void)conn->select(two)[0][2];
      ADD_FAILURE() << "a row of two columns gave a third";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("column index 2 is out of range (row has 2 columns)"), std::string::npos)
          << e.what();
    }
  }
  std::printf("figures: typed reads %s: %zu reads compared with the Value's conversion, %zu differed\n",
              ctx.name.c_str(), reads, differ);
}

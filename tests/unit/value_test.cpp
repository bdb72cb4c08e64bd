#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/core/result.hpp"
#include "plexus/core/value.hpp"
#include "plexus/orm/model.hpp"

using namespace plexus;
using namespace std::chrono;

TEST(Value, HoldsEachTypeAndReportsIt) {
  EXPECT_EQ(Value().type(), Value::Type::null);
  EXPECT_EQ(Value(true).type(), Value::Type::boolean);
  EXPECT_EQ(Value(42).type(), Value::Type::integer);
  EXPECT_EQ(Value(1.5).type(), Value::Type::real);
  EXPECT_EQ(Value("x").type(), Value::Type::text);
  EXPECT_EQ(Value(Bytes(std::string_view("ab"))).type(), Value::Type::bytes);
  EXPECT_EQ(Value(year{2024} / 2 / 29).type(), Value::Type::date);
  EXPECT_EQ(Value(std::optional<int>()).type(), Value::Type::null);
  EXPECT_EQ(Value(std::optional<int>(3)).as<int>(), 3);
}

namespace {
/// A value of a type picked at random, with random contents: empty, short and
/// long text (NULs and UTF-8 included), bytes, NaN and infinities among the reals.
Value random_value(std::mt19937_64& rng) {
  auto pick = [&](std::uint64_t n) { return static_cast<std::size_t>(rng() % n); };
  auto text = [&] {
    std::string t(pick(3) == 0 ? pick(4) : pick(3) == 0 ? 40 + pick(200) : pick(16), 'x');
    for (auto& c : t) c = static_cast<char>(pick(6) == 0 ? 0 : "aZ9 'é\\"[pick(8)]);
    return t;
  };
  switch (pick(9)) {
    case 0: return Value();
    case 1: return Value(pick(2) == 0);
    case 2: return Value(static_cast<std::int64_t>(rng()));
    case 3: {
      const double special[] = {std::nan(""), INFINITY, -INFINITY, 1e300, 0.1};
      return pick(4) == 0 ? Value(special[pick(5)]) : Value(static_cast<double>(static_cast<std::int64_t>(rng())) / 7);
    }
    case 4: return Value(text());
    case 5: return Value(Bytes(std::string_view(text())));
    case 6: return Value(Date{year{1900 + static_cast<int>(pick(300))}, month{1 + static_cast<unsigned>(pick(12))}, day{1 + static_cast<unsigned>(pick(28))}});
    case 7: return Value(Time{microseconds{static_cast<std::int64_t>(rng() % 86'400'000'000ULL)}});
    default: return Value(Timestamp{microseconds{static_cast<std::int64_t>(rng() >> 8)}});
  }
}
/// The value as a type and its display text (NaN displays as "nan": equal texts, unequal values).
std::pair<Value::Type, std::string> seen(const Value& v) { return {v.type(), v.to_string()}; }
bool is_nan(const Value& v) { return v.type() == Value::Type::real && std::isnan(v.raw_real()); }
}  // namespace

// Value keeps a one-word value as raw bytes and text or bytes as objects: every
// copy, move and assignment between every pair of types keeps what was stored.
TEST(Value, CopiesMovesAndAssignmentsKeepEveryTypeGenerated) {
  std::mt19937_64 rng(20261202);
  std::vector<Value> kept;
  for (int round = 0; round < 3000; ++round) {
    const Value a = random_value(rng);
    Value b = random_value(rng);
    const auto a_seen = seen(a), b_seen = seen(b);

    Value copy(a);
    EXPECT_EQ(seen(copy), a_seen);
    EXPECT_EQ(copy == a, !is_nan(a));
    Value moved(std::move(copy));
    EXPECT_EQ(seen(moved), a_seen);

    Value target = b;  // copy-assign over another type
    target = a;
    EXPECT_EQ(seen(target), a_seen);
    EXPECT_EQ(seen(b), b_seen);
    target = std::move(b);  // move-assign over another type
    EXPECT_EQ(seen(target), b_seen);
    target = target;  // self-assignment keeps it
    EXPECT_EQ(seen(target), b_seen);
    target = std::move(target);
    EXPECT_EQ(seen(target), b_seen);

    // Equality: same type and contents (NaN equals nothing; 1 is not 1.0 or true).
    EXPECT_EQ(a == target, a_seen == b_seen && !is_nan(a)) << a.to_string() << " / " << target.to_string();

    // The drivers' in-place setters over any type before.
    Value reused = a;
    reused.set_text(a_seen.second);
    EXPECT_EQ(reused.type(), Value::Type::text);
    EXPECT_EQ(reused.raw_text(), a_seen.second);
    reused = a;
    reused.set_int(round);
    EXPECT_EQ(reused, Value(round));
    reused.set_real(0.5);
    EXPECT_EQ(reused, Value(0.5));

    kept.push_back(a);  // the vector's growth moves every earlier one
  }
  std::mt19937_64 again(20261202);
  for (const Value& v : kept) {
    const Value expected = random_value(again);
    (void)random_value(again);
    EXPECT_EQ(seen(v), seen(expected));
  }
}

TEST(Value, ARawAccessorOfAnotherTypeIsAClearError) {
  EXPECT_EQ(Value(5).raw_int(), 5);
  EXPECT_EQ(Value("t").raw_text(), "t");
  try {
    (void)Value("secret text").raw_int();
    ADD_FAILURE() << "raw_int() of text returned";
  } catch (const ConversionError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("text"), std::string::npos) << what;
    EXPECT_NE(what.find("integer"), std::string::npos) << what;
    EXPECT_EQ(what.find("secret"), std::string::npos) << "the value is not shown: " << what;
  }
  EXPECT_THROW((void)Value().raw_bool(), ConversionError);
  EXPECT_THROW((void)Value(1.5).raw_text(), ConversionError);
  EXPECT_THROW((void)Value(1).raw_bytes(), ConversionError);
}

TEST(Value, IntegerConversionsCheckRange) {
  EXPECT_EQ(Value(300).as<std::int64_t>(), 300);
  EXPECT_EQ(Value(300).as<int>(), 300);
  EXPECT_THROW((void)Value(300).as<std::int8_t>(), ConversionError);
  EXPECT_THROW((void)Value(-1).as<unsigned>(), ConversionError);
  EXPECT_THROW((void)Value(std::int64_t{1} << 40).as<int>(), ConversionError);
  EXPECT_EQ(Value(std::numeric_limits<std::int64_t>::min()).as<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_THROW(Value(std::numeric_limits<std::uint64_t>::max()), ConversionError);
}

TEST(Value, RealToIntegerOnlyWhenExact) {
  EXPECT_EQ(Value(3.0).as<int>(), 3);
  try {
    (void)Value(2.5).as<int>();
    FAIL() << "expected ConversionError";
  } catch (const ConversionError& e) {
    EXPECT_NE(std::string(e.what()).find("fractional"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2.5"), std::string::npos) << e.what();
  }
}

TEST(Value, TextParsesOnlyWhenWhollyNumeric) {
  EXPECT_EQ(Value("15").as<std::int64_t>(), 15);  // e.g. SUM() as DECIMAL text
  EXPECT_DOUBLE_EQ(Value("2.50").as<double>(), 2.5);
  EXPECT_THROW((void)Value("15abc").as<std::int64_t>(), ConversionError);
  EXPECT_THROW((void)Value("").as<double>(), ConversionError);
}

TEST(Value, NullNeedsOptional) {
  EXPECT_THROW((void)Value().as<int>(), ConversionError);
  EXPECT_EQ(Value().as<std::optional<int>>(), std::nullopt);
  EXPECT_EQ(Value().to_string(), "NULL");
}

TEST(Value, BoolConversions) {
  EXPECT_TRUE(Value(1).as<bool>());
  EXPECT_FALSE(Value(0).as<bool>());
  EXPECT_THROW((void)Value(2).as<bool>(), ConversionError);
  EXPECT_TRUE(Value("t").as<bool>());
}

TEST(Value, StringDoesNotSilentlyFormatNumbers) {
  try {
    (void)Value(42).as<std::string>();
    FAIL();
  } catch (const ConversionError& e) {
    EXPECT_NE(std::string(e.what()).find("to_string"), std::string::npos);
  }
  EXPECT_EQ(Value(42).to_string(), "42");
}

TEST(Value, DateTimeRoundTripThroughText) {
  auto ts = Timestamp(sys_days(year{2024} / 3 / 5)) + hours{13} + minutes{4} + seconds{5} + microseconds{123456};
  EXPECT_EQ(format_timestamp(ts), "2024-03-05 13:04:05.123456");
  EXPECT_EQ(parse_timestamp("2024-03-05 13:04:05.123456"), ts);
  EXPECT_EQ(parse_timestamp("2024-03-05T15:04:05.123456+02:00"), ts);
  EXPECT_EQ(parse_timestamp("2024-03-05 13:04:05.123456Z"), ts);
  EXPECT_EQ(Value("2024-03-05").as<Date>(), year{2024} / 3 / 5);
  EXPECT_EQ(Value("07:08:09.5").as<Time>().since_midnight, hours{7} + minutes{8} + seconds{9} + milliseconds{500});
  EXPECT_THROW(parse_date("2024-02-30"), ConversionError);
  EXPECT_THROW(parse_timestamp("yesterday"), ConversionError);
}

TEST(Value, BytesDisplayAsHex) {
  Value v(Bytes(std::vector<std::uint8_t>{0x00, 0xff, 0x10}));
  EXPECT_EQ(v.to_string(), "\\x00ff10");
  EXPECT_EQ(v.as<Bytes>().data.size(), 3u);
}

namespace {
/// A column source over fixed Values: the common kinds as cells, the rest as Values.
class FixedCells final : public ColumnSource {
 public:
  FixedCells(const Columns& cols, std::vector<Value> v) : ColumnSource(cols), m_v(std::move(v)) {}
  void cell(std::size_t i, Cell& out) const override {
    ++asked;
    const Value& v = m_v.at(i);
    switch (v.type()) {
      case Value::Type::integer: out.kind = Kind::integer; out.integer = v.raw_int(); break;
      case Value::Type::real: out.kind = Kind::real; out.real = v.raw_real(); break;
      case Value::Type::text: out.kind = Kind::text; out.text = v.raw_text(); break;
      default: out.kind = Kind::other;
    }
  }
  Value value(std::size_t i) const override { return m_v.at(i); }
  mutable int asked = 0;

 private:
  std::vector<Value> m_v;
};
}  // namespace

TEST(Row, ARowReadThroughItsColumnSourceReadsCellsAsItsValuesWouldConvert) {
  const Columns cols(std::vector<std::string>{"id", "name", "price", "born", "flag"});
  const std::vector<Value> values = {Value(7), Value("Ada"), Value(2.5), Value(Date{year{1815}, month{12}, day{10}}),
                                     Value(true)};
  FixedCells src(cols, values);
  const Row direct(&src), held(&cols, values.data());
  EXPECT_EQ(direct.size(), 5u);
  EXPECT_EQ(&direct.columns(), &cols);
  ASSERT_EQ(direct.source(), &src);
  EXPECT_EQ(held.source(), nullptr);

  std::int64_t id = 0;
  std::string name = "a longer string that was there before";
  double price = 0;
  Date born{};
  bool flag = false;
  read_cell(direct, 0, id);
  read_cell(direct, 1, name);
  read_cell(direct, 2, price);
  read_cell(direct, 3, born);
  read_cell(direct, 4, flag);
  EXPECT_EQ(id, 7);
  EXPECT_EQ(name, "Ada");
  EXPECT_EQ(price, 2.5);
  EXPECT_EQ(born, (Date{year{1815}, month{12}, day{10}}));
  EXPECT_TRUE(flag);
  EXPECT_EQ(src.asked, 5);

  // Other pairings convert as the Value does, errors included.
  double id_as_real = 0;
  read_cell(direct, 0, id_as_real);
  EXPECT_EQ(id_as_real, 7.0);
  std::int64_t name_as_int = 0;
  EXPECT_THROW(read_cell(direct, 1, name_as_int), ConversionError);
  EXPECT_THROW((void)held[1].as<std::int64_t>(), ConversionError);
  std::int64_t price_as_int = 0;
  EXPECT_THROW(read_cell(direct, 2, price_as_int), ConversionError);
  std::optional<std::string> maybe;
  read_cell(direct, 1, maybe);
  EXPECT_EQ(maybe, "Ada");

  // Out of range, and the Values it does not hold: clear errors, not a crash.
  std::int64_t x = 0;
  EXPECT_THROW(read_cell(direct, 5, x), UsageError);
  try {
    (void)direct[0];
    ADD_FAILURE() << "a row without Values handed one out";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("read_cell"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)direct["id"], UsageError);
  EXPECT_EQ(direct.begin(), direct.end());
  read_cell(held, 0, x);
  EXPECT_EQ(x, 7);
}

// Text reads as a number only when it spells one in digits: "NaN", "inf"
// and "Infinity" are not numbers (from_chars would take them).
TEST(ValueText, NamesOfSpecialNumbersAreNotNumbers) {
  for (const char* s : {"NaN", "nan", "-nan", "inf", "-inf", "Infinity", "+Infinity", "INF", "nan(1)", "", "-", "+", "."})
    EXPECT_THROW((void)Value(s).as<double>(), ConversionError) << s;
  for (const char* s : {"nan", "inf", "-inf"}) EXPECT_THROW((void)Value(s).as<std::int64_t>(), ConversionError) << s;
  EXPECT_EQ(Value("1.5").as<double>(), 1.5);
  EXPECT_EQ(Value("-.5").as<double>(), -0.5);
  EXPECT_EQ(Value(" 2e3 ").as<double>(), 2000.0);
  EXPECT_EQ(Value("+7").as<std::int64_t>(), 7);
}

// JSON in and out of models: an integer past int64 is refused, never
// wrapped; text JSON cannot carry is a plexus::Error naming the field.
TEST(ModelJson, GeneratedIntegersAtTheEdgeAndTextThatIsNotUtf8) {
  std::mt19937_64 rng(7);
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  for (int i = 0; i < 300; ++i) {
    const std::uint64_t u = i % 3 == 0 ? kMax - rng() % 1000 : i % 3 == 1 ? kMax + 1 + rng() % 1000 : ~0ULL - rng() % 1000;
    const std::string json = "{\"n\": " + std::to_string(u) + "}";
    if (u <= kMax) {
      const Fields f = fields_from_json(json);
      EXPECT_EQ(f.at(0).second.as<std::int64_t>(), static_cast<std::int64_t>(u)) << json;
    } else {
      EXPECT_THROW((void)fields_from_json(json), ConversionError) << json;
    }
  }
  EXPECT_EQ(fields_from_json("{\"n\": -9223372036854775808}").at(0).second.as<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(fields_from_json("{\"s\": \"NaN\"}").at(0).second.type(), Value::Type::text) << "a string stays text";
  EXPECT_THROW((void)fields_from_json("{\"s\": \"NaN\"}").at(0).second.as<double>(), ConversionError);
  try {
    (void)fields_to_json({{"ok", Value("fine")}, {"bad", Value(std::string("\xff\xfe"))}});
    FAIL() << "invalid UTF-8 was written as JSON";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bad'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fields_to_json({{"t", Value("Grüße")}}), "{\"t\":\"Grüße\"}");
}

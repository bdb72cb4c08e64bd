#include <gtest/gtest.h>

#include <limits>

#include "plexus/core/error.hpp"
#include "plexus/core/result.hpp"
#include "plexus/core/value.hpp"

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

// PostgreSQL's text format read into Values: integers and plain text in
// place (row buffers reuse them), the typed OIDs decoded, the rest as text.
#include <charconv>
#include <string>

#include "drivers/postgres/session.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::postgres {
namespace {

// Type OIDs from pg_type.h (stable across versions).
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700, kFloat8 = 701,
              kDate = 1082, kTime = 1083, kTimestamp = 1114, kTimestamptz = 1184;

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}
}  // namespace

// Keep the list of typed OIDs in step with decode(): the rest is text.
void decode_into(Oid oid, const char* data, int len, Value& out) {
  switch (oid) {
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid: {
      std::int64_t v = 0;
      std::from_chars(data, data + len, v);
      out.set_int(v);
      return;
    }
    case kBool:
    case kFloat4:
    case kFloat8:
    case kBytea:
    case kDate:
    case kTime:
    case kTimestamp:
    case kTimestamptz: out = decode(oid, data, len); return;
    default: out.set_text(std::string_view(data, static_cast<std::size_t>(len))); return;  // decode's default
  }
}

void decode_row(const PGresult* raw, int row, const std::vector<Oid>& types, Value* out) {
  for (std::size_t i = 0; i < types.size(); ++i) {
    const int c = static_cast<int>(i);
    if (PQgetisnull(raw, row, c)) out[i] = Value();
    else decode_into(types[i], PQgetvalue(raw, row, c), PQgetlength(raw, row, c), out[i]);
  }
}

Value decode(Oid oid, const char* data, int len) {
  std::string_view s(data, static_cast<std::size_t>(len));
  switch (oid) {
    case kBool: return Value(s == "t");
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid: {
      std::int64_t v = 0;
      std::from_chars(s.data(), s.data() + s.size(), v);
      return Value(v);
    }
    case kFloat4:
    case kFloat8: {
      if (s == "NaN" || s == "Infinity" || s == "-Infinity") return Value(std::stod(std::string(s)));
      double d = 0;
      std::from_chars(s.data(), s.data() + s.size(), d);
      return Value(d);
    }
    case kBytea: {
      std::vector<std::uint8_t> b;
      if (s.starts_with("\\x")) {
        b.reserve((s.size() - 2) / 2);
        for (std::size_t i = 2; i + 1 < s.size(); i += 2) b.push_back(static_cast<std::uint8_t>(hexval(s[i]) * 16 + hexval(s[i + 1])));
      } else {
        b.assign(s.begin(), s.end());
      }
      return Value(Bytes(std::move(b)));
    }
    case kDate:
      try {
        return Value(parse_date(s));
      } catch (const ConversionError&) {
        return Value(std::string(s));  // infinity, BC dates: keep the server's text
      }
    case kTime:
      try {
        return Value(parse_time(s));
      } catch (const ConversionError&) {
        return Value(std::string(s));
      }
    case kTimestamp:
    case kTimestamptz:
      try {
        return Value(parse_timestamp(s));
      } catch (const ConversionError&) {
        return Value(std::string(s));
      }
    default: return Value(std::string(s));
  }
}

}  // namespace plexus::engine::postgres

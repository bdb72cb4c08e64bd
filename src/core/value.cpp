#include "plexus/core/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "plexus/core/error.hpp"

namespace plexus {
namespace {

using namespace std::chrono;

[[noreturn]] void bad(const Value& v, std::string_view target, std::string_view why = {}) {
  std::string msg = "cannot convert ";
  msg += Value::type_name(v.type());
  if (!v.is_null()) {
    std::string shown = v.to_string();
    if (shown.size() > 64) shown = shown.substr(0, 64) + "…";
    msg += " value '" + shown + "'";
  }
  msg += " to ";
  msg += target;
  if (!why.empty()) {
    msg += ": ";
    msg += why;
  }
  throw ConversionError(std::move(msg));
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  // Digits only: from_chars would also read "nan", "inf" and "infinity" as
  // numbers, and text that names no number is not one.
  const std::size_t first = !s.empty() && s.front() == '-' ? 1 : 0;
  if (first >= s.size() || !((s[first] >= '0' && s[first] <= '9') || s[first] == '.')) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

// Reads exactly n digits at s[pos]; advances pos.
bool digits(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  out = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + static_cast<std::size_t>(i)];
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  pos += static_cast<std::size_t>(n);
  return true;
}

bool parse_date_at(std::string_view s, std::size_t& pos, Date& out) {
  int y = 0, m = 0, d = 0;
  if (!digits(s, pos, 4, y) || pos >= s.size() || s[pos++] != '-' || !digits(s, pos, 2, m) || pos >= s.size() ||
      s[pos++] != '-' || !digits(s, pos, 2, d))
    return false;
  out = year{y} / month{static_cast<unsigned>(m)} / day{static_cast<unsigned>(d)};
  return out.ok();
}

bool parse_time_at(std::string_view s, std::size_t& pos, Time& out) {
  int h = 0, mi = 0, se = 0;
  if (!digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':' || !digits(s, pos, 2, mi)) return false;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!digits(s, pos, 2, se)) return false;
  }
  long long micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0) return false;
    for (int i = n; i < 6; ++i) micros *= 10;
  }
  if (h > 23 || mi > 59 || se > 60) return false;
  out.since_midnight = hours{h} + minutes{mi} + seconds{se} + microseconds{micros};
  return true;
}

}  // namespace

std::string_view Value::type_name(Type t) noexcept {
  switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "boolean";
    case Type::integer: return "integer";
    case Type::real: return "real";
    case Type::text: return "text";
    case Type::bytes: return "bytes";
    case Type::date: return "date";
    case Type::time: return "time";
    case Type::timestamp: return "timestamp";
  }
  return "?";
}

void Value::throw_unsigned_overflow(unsigned long long v) {
  throw ConversionError("unsigned integer " + std::to_string(v) + " does not fit a signed 64-bit SQL integer");
}

void Value::throw_not(Type wanted) const {
  throw ConversionError("a " + std::string(type_name(m_type)) + " value was read as " + std::string(type_name(wanted)) +
                        "; check type() before a raw_*() accessor, or convert with as<T>()");
}

void Value::copy_owned(const Value& o) {
  if (o.m_type == Type::text) make<std::string>(Type::text, o.ref<std::string>());
  else make<Bytes>(Type::bytes, o.ref<Bytes>());
}

void Value::move_owned(Value& o) noexcept {
  if (o.m_type == Type::text) make<std::string>(Type::text, std::move(o.ref<std::string>()));
  else make<Bytes>(Type::bytes, std::move(o.ref<Bytes>()));
}

void Value::destroy_owned() noexcept {
  if (m_type == Type::text) ref<std::string>().~basic_string();
  else ref<Bytes>().~Bytes();
}

bool operator==(const Value& a, const Value& b) noexcept {
  if (a.m_type != b.m_type) return false;
  switch (a.m_type) {
    case Value::Type::null: return true;
    case Value::Type::boolean: return a.ref<bool>() == b.ref<bool>();
    case Value::Type::integer: return a.ref<std::int64_t>() == b.ref<std::int64_t>();
    case Value::Type::real: return a.ref<double>() == b.ref<double>();
    case Value::Type::text: return a.ref<std::string>() == b.ref<std::string>();
    case Value::Type::bytes: return a.ref<Bytes>() == b.ref<Bytes>();
    case Value::Type::date: return a.ref<Date>() == b.ref<Date>();
    case Value::Type::time: return a.ref<Time>() == b.ref<Time>();
    case Value::Type::timestamp: return a.ref<Timestamp>() == b.ref<Timestamp>();
  }
  return false;
}

bool Value::to_bool() const {
  switch (type()) {
    case Type::boolean: return raw_bool();
    case Type::integer:
      if (raw_int() == 0 || raw_int() == 1) return raw_int() == 1;
      bad(*this, "bool", "only 0 and 1 convert to bool");
    case Type::text: {
      const auto& t = raw_text();
      if (t == "t" || t == "true" || t == "1") return true;
      if (t == "f" || t == "false" || t == "0") return false;
      bad(*this, "bool");
    }
    default: bad(*this, "bool");
  }
}

std::int64_t Value::to_int64() const {
  switch (type()) {
    case Type::integer: return raw_int();
    case Type::boolean: return raw_bool() ? 1 : 0;
    case Type::real: {
      double d = raw_real();
      if (std::trunc(d) != d) bad(*this, "int64", "the value has a fractional part");
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) bad(*this, "int64", "out of range");
      return static_cast<std::int64_t>(d);
    }
    case Type::text: {
      std::int64_t out = 0;
      if (!parse_number(std::string_view(raw_text()), out)) bad(*this, "int64", "not an integer");
      return out;
    }
    default: bad(*this, "int64");
  }
}

std::int64_t Value::to_int_in(std::int64_t lo, std::uint64_t hi, bool is_signed, unsigned bits) const {
  std::string target = (is_signed ? "int" : "uint") + std::to_string(bits);
  if (!is_signed && bits == 64 && type() == Type::text) {
    std::uint64_t u = 0;
    if (!parse_number(std::string_view(raw_text()), u)) bad(*this, target, "not an unsigned integer");
    return static_cast<std::int64_t>(u);  // caller casts back to uint64
  }
  std::int64_t v = to_int64();
  if (v < lo || (v > 0 && static_cast<std::uint64_t>(v) > hi)) bad(*this, target, "out of range");
  return v;
}

double Value::to_double() const {
  switch (type()) {
    case Type::real: return raw_real();
    case Type::integer: {
      auto i = raw_int();
      constexpr std::int64_t exact = std::int64_t{1} << 53;
      if (i > exact || i < -exact) bad(*this, "double", "not exactly representable");
      return static_cast<double>(i);
    }
    case Type::text: {
      double d = 0;
      if (!parse_number(std::string_view(raw_text()), d)) bad(*this, "double", "not a number");
      return d;
    }
    default: bad(*this, "double");
  }
}

std::string Value::to_text() const {
  if (type() == Type::text) return raw_text();
  if (type() == Type::bytes) return std::string(raw_bytes().data.begin(), raw_bytes().data.end());
  bad(*this, "std::string", "use Value::to_string() to format other types for display");
}

std::string_view Value::text_view() const {
  if (type() == Type::text) return raw_text();
  if (type() == Type::bytes) {
    const auto& b = raw_bytes().data;
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  bad(*this, "std::string_view");
}

Bytes Value::to_bytes() const {
  if (type() == Type::bytes) return raw_bytes();
  if (type() == Type::text) return Bytes(std::string_view(raw_text()));
  bad(*this, "Bytes");
}

Date Value::to_date() const {
  if (type() == Type::date) return raw_date();
  if (type() == Type::timestamp) bad(*this, "Date", "use as<Timestamp>() and floor it to days explicitly");
  if (type() == Type::text) return parse_date(raw_text());
  bad(*this, "Date");
}

Time Value::to_time() const {
  if (type() == Type::time) return raw_time();
  if (type() == Type::text) return parse_time(raw_text());
  bad(*this, "Time");
}

Timestamp Value::to_timestamp() const {
  if (type() == Type::timestamp) return raw_timestamp();
  if (type() == Type::date) return Timestamp(sys_days(raw_date()));
  if (type() == Type::text) return parse_timestamp(raw_text());
  bad(*this, "Timestamp");
}

std::string Value::to_string() const {
  switch (type()) {
    case Type::null: return "NULL";
    case Type::boolean: return raw_bool() ? "true" : "false";
    case Type::integer: return std::to_string(raw_int());
    case Type::real: {
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, raw_real());
      return std::string(buf, p);
    }
    case Type::text: return raw_text();
    case Type::bytes: {
      static constexpr char hex[] = "0123456789abcdef";
      std::string out = "\\x";
      for (auto b : raw_bytes().data) {
        out += hex[b >> 4];
        out += hex[b & 15];
      }
      return out;
    }
    case Type::date: return format_date(raw_date());
    case Type::time: return format_time(raw_time());
    case Type::timestamp: return format_timestamp(raw_timestamp());
  }
  return {};
}

Date parse_date(std::string_view s) {
  std::size_t pos = 0;
  Date d;
  if (!parse_date_at(s, pos, d) || pos != s.size())
    throw ConversionError("'" + std::string(s) + "' is not a date (expected YYYY-MM-DD)");
  return d;
}

Time parse_time(std::string_view s) {
  std::size_t pos = 0;
  Time t;
  if (!parse_time_at(s, pos, t) || pos != s.size())
    throw ConversionError("'" + std::string(s) + "' is not a time of day (expected HH:MM:SS[.ffffff])");
  return t;
}

Timestamp parse_timestamp(std::string_view s) {
  std::size_t pos = 0;
  Date d;
  Time t;
  auto fail = [&] {
    throw ConversionError("'" + std::string(s) + "' is not a timestamp (expected YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])");
  };
  if (!parse_date_at(s, pos, d)) fail();
  if (pos == s.size()) return Timestamp(sys_days(d));
  if (s[pos] != ' ' && s[pos] != 'T') fail();
  ++pos;
  if (!parse_time_at(s, pos, t)) fail();
  Timestamp ts = Timestamp(sys_days(d)) + t.since_midnight;
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) return ts;
    if (s[pos] != '+' && s[pos] != '-') fail();
    int sign = s[pos] == '+' ? 1 : -1;
    ++pos;
    int oh = 0, om = 0;
    if (!digits(s, pos, 2, oh)) fail();
    if (pos < s.size() && s[pos] == ':') ++pos;
    if (pos < s.size() && !digits(s, pos, 2, om)) fail();
    if (pos != s.size()) fail();
    ts -= sign * (hours{oh} + minutes{om});
  }
  return ts;
}

std::string format_date(Date d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

std::string format_time(Time t) {
  long long us = static_cast<long long>(t.since_midnight.count());
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", us / 3600000000LL, us / 60000000LL % 60, us / 1000000LL % 60);
  if (us % 1000000 != 0) std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%06lld", us % 1000000);
  return buf;
}

std::string format_timestamp(Timestamp t) {
  auto day = floor<days>(t);
  return format_date(Date(day)) + " " + format_time(Time{t - day});
}

}  // namespace plexus

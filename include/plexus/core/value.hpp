// Value: one SQL value as it crosses the boundary between Plexus and an engine.
//
// Conversions are explicit (`as<T>()`) and never narrow silently: an integer
// that does not fit the requested type, a real that is not integral, or text
// that does not parse raises a ConversionError naming both types and the value.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace plexus {

/// Binary data (BLOB / bytea / VARBINARY).
struct Bytes {
  std::vector<std::uint8_t> data;
  Bytes() = default;
  explicit Bytes(std::vector<std::uint8_t> d) : data(std::move(d)) {}
  explicit Bytes(std::string_view s) : data(s.begin(), s.end()) {}
  friend bool operator==(const Bytes&, const Bytes&) = default;
};

/// A calendar date without time zone.
using Date = std::chrono::year_month_day;
/// A UTC instant with microsecond precision.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;
/// A time of day (00:00:00 to 23:59:59.999999).
struct Time {
  std::chrono::microseconds since_midnight{0};
  friend bool operator==(const Time&, const Time&) = default;
};

class Value {
 public:
  enum class Type : std::uint8_t { null, boolean, integer, real, text, bytes, date, time, timestamp };

  Value() noexcept = default;
  Value(std::nullptr_t) noexcept {}
  Value(std::nullopt_t) noexcept {}
  template <class T>
    requires std::same_as<T, bool>
  Value(T b) noexcept : m_v(b) {}
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  Value(T i) : m_v(checked_int(i)) {}
  Value(double d) noexcept : m_v(d) {}
  Value(float f) noexcept : m_v(static_cast<double>(f)) {}
  Value(std::string s) noexcept : m_v(std::move(s)) {}
  Value(std::string_view s) : m_v(std::in_place_type<std::string>, s) {}  // made in place: no move of a temporary
  Value(const char* s) : m_v(std::in_place_type<std::string>, s) {}
  Value(Bytes b) noexcept : m_v(std::move(b)) {}
  Value(Date d) noexcept : m_v(d) {}
  Value(Time t) noexcept : m_v(t) {}
  Value(Timestamp t) noexcept : m_v(t) {}
  template <class T>
  Value(const std::optional<T>& o) {
    if (o) *this = Value(*o);
  }

  [[nodiscard]] Type type() const noexcept { return static_cast<Type>(m_v.index()); }
  [[nodiscard]] bool is_null() const noexcept { return m_v.index() == 0; }
  [[nodiscard]] static std::string_view type_name(Type t) noexcept;

  /// Converts to T. T may be bool, any integer type, double, float,
  /// std::string, Bytes, Date, Time, Timestamp, or std::optional of those
  /// (null becomes std::nullopt).
  /// @throws ConversionError when the value is null (unless T is optional),
  ///         out of range for T, or of a type that does not convert.
  template <class T>
  [[nodiscard]] T as() const;

  /// Borrowed view of text (or bytes) without a copy.
  /// @throws ConversionError for other types.
  [[nodiscard]] std::string_view text_view() const;

  /// The value for display: text as is, bytes as \x hex, dates ISO-8601, null as "NULL".
  [[nodiscard]] std::string to_string() const;

  // Direct accessors for drivers (no checks beyond the variant's).
  [[nodiscard]] bool raw_bool() const { return std::get<bool>(m_v); }
  [[nodiscard]] std::int64_t raw_int() const { return std::get<std::int64_t>(m_v); }
  [[nodiscard]] double raw_real() const { return std::get<double>(m_v); }
  [[nodiscard]] const std::string& raw_text() const { return std::get<std::string>(m_v); }
  [[nodiscard]] const Bytes& raw_bytes() const { return std::get<Bytes>(m_v); }
  [[nodiscard]] Date raw_date() const { return std::get<Date>(m_v); }
  [[nodiscard]] Time raw_time() const { return std::get<Time>(m_v); }
  [[nodiscard]] Timestamp raw_timestamp() const { return std::get<Timestamp>(m_v); }
  // In-place setters for drivers that read every row into one reused buffer:
  // text reuses the storage of the text held before.
  void set_int(std::int64_t i) noexcept { m_v.emplace<std::int64_t>(i); }
  void set_real(double d) noexcept { m_v.emplace<double>(d); }
  void set_text(std::string_view s) {
    if (auto* t = std::get_if<std::string>(&m_v)) t->assign(s.data(), s.size());
    else m_v.emplace<std::string>(s);
  }

  friend bool operator==(const Value&, const Value&) = default;

 private:
  template <class I>
  static std::int64_t checked_int(I i) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (i > static_cast<I>(INT64_MAX)) throw_unsigned_overflow(static_cast<unsigned long long>(i));
    }
    return static_cast<std::int64_t>(i);
  }
  [[noreturn]] static void throw_unsigned_overflow(unsigned long long v);

  bool to_bool() const;
  std::int64_t to_int64() const;
  std::int64_t to_int_in(std::int64_t lo, std::uint64_t hi, bool is_signed, unsigned bits) const;
  double to_double() const;
  std::string to_text() const;
  Bytes to_bytes() const;
  Date to_date() const;
  Time to_time() const;
  Timestamp to_timestamp() const;

  std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes, Date, Time, Timestamp> m_v;
};

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <class T>
T Value::as() const {
  if constexpr (detail::is_optional<T>::value) {
    if (is_null()) return std::nullopt;
    return as<typename T::value_type>();
  } else if constexpr (std::same_as<T, bool>) {
    if (const bool* b = std::get_if<bool>(&m_v)) return *b;  // exact type: no call
    return to_bool();
  } else if constexpr (std::same_as<T, std::int64_t>) {
    if (const std::int64_t* i = std::get_if<std::int64_t>(&m_v)) return *i;
    return to_int64();
  } else if constexpr (std::integral<T>) {
    return static_cast<T>(to_int_in(static_cast<std::int64_t>(std::numeric_limits<T>::min()),
                                    static_cast<std::uint64_t>(std::numeric_limits<T>::max()),
                                    std::is_signed_v<T>, sizeof(T) * 8));
  } else if constexpr (std::same_as<T, double>) {
    if (const double* d = std::get_if<double>(&m_v)) return *d;
    return to_double();
  } else if constexpr (std::same_as<T, float>) {
    return static_cast<float>(to_double());
  } else if constexpr (std::same_as<T, std::string>) {
    if (const std::string* t = std::get_if<std::string>(&m_v)) return *t;
    return to_text();
  } else if constexpr (std::same_as<T, Bytes>) {
    return to_bytes();
  } else if constexpr (std::same_as<T, Date>) {
    return to_date();
  } else if constexpr (std::same_as<T, Time>) {
    return to_time();
  } else if constexpr (std::same_as<T, Timestamp>) {
    return to_timestamp();
  } else {
    static_assert(sizeof(T) == 0, "plexus::Value::as<T>: unsupported target type");
  }
}

/// Parses "YYYY-MM-DD". @throws ConversionError.
Date parse_date(std::string_view s);
/// Parses "HH:MM:SS[.ffffff]". @throws ConversionError.
Time parse_time(std::string_view s);
/// Parses "YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|+HH[:MM]]"; offsets are applied to give UTC. @throws ConversionError.
Timestamp parse_timestamp(std::string_view s);
std::string format_date(Date d);
std::string format_time(Time t);
/// "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC (no suffix), which every engine accepts.
std::string format_timestamp(Timestamp t);

}  // namespace plexus

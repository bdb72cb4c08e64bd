// Value: one SQL value as it crosses the boundary between Plexus and an engine.
//
// Conversions are explicit (`as<T>()`) and never narrow silently: an integer
// that does not fit the requested type, a real that is not integral, or text
// that does not parse raises a ConversionError naming both types and the value.
#pragma once

#include <chrono>
#include <concepts>
#include <cstring>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
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
  Value(T b) noexcept {
    put(Type::boolean, b);
  }
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  Value(T i) {
    put(Type::integer, checked_int(i));
  }
  Value(double d) noexcept { put(Type::real, d); }
  Value(float f) noexcept { put(Type::real, static_cast<double>(f)); }
  Value(std::string s) noexcept { make<std::string>(Type::text, std::move(s)); }
  Value(std::string_view s) { make<std::string>(Type::text, s); }  // made in place: no move of a temporary
  Value(const char* s) { make<std::string>(Type::text, s); }
  Value(Bytes b) noexcept { make<Bytes>(Type::bytes, std::move(b)); }
  Value(Date d) noexcept { put(Type::date, d); }
  Value(Time t) noexcept { put(Type::time, t); }
  Value(Timestamp t) noexcept { put(Type::timestamp, t); }
  template <class T>
  Value(const std::optional<T>& o) {
    if (o) *this = Value(*o);
  }

  // A value that owns no memory (all but text and bytes) is copied, moved and
  // destroyed as the one word it is, without a dispatch on its type.
  Value(const Value& o) {
    if (owns(o.m_type)) copy_owned(o);
    else copy_word(o);
  }
  Value(Value&& o) noexcept { take(o); }
  Value& operator=(const Value& o) {
    if (this != &o) *this = Value(o);  // copied first: a failed copy leaves this value as it was
    return *this;
  }
  Value& operator=(Value&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  ~Value() { reset(); }

  [[nodiscard]] Type type() const noexcept { return m_type; }
  [[nodiscard]] bool is_null() const noexcept { return m_type == Type::null; }
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

  // Direct accessors for drivers, which check type() first.
  // @throws ConversionError when the value holds another type.
  [[nodiscard]] bool raw_bool() const { return held<bool>(Type::boolean); }
  [[nodiscard]] std::int64_t raw_int() const { return held<std::int64_t>(Type::integer); }
  [[nodiscard]] double raw_real() const { return held<double>(Type::real); }
  [[nodiscard]] const std::string& raw_text() const { return held<std::string>(Type::text); }
  [[nodiscard]] const Bytes& raw_bytes() const { return held<Bytes>(Type::bytes); }
  [[nodiscard]] Date raw_date() const { return held<Date>(Type::date); }
  [[nodiscard]] Time raw_time() const { return held<Time>(Type::time); }
  [[nodiscard]] Timestamp raw_timestamp() const { return held<Timestamp>(Type::timestamp); }
  // In-place setters for drivers that read every row into one reused buffer:
  // text reuses the storage of the text held before.
  void set_int(std::int64_t i) noexcept {
    reset();
    put(Type::integer, i);
  }
  void set_real(double d) noexcept {
    reset();
    put(Type::real, d);
  }
  void set_text(std::string_view s) {
    if (m_type == Type::text) {
      ref<std::string>().assign(s.data(), s.size());
      return;
    }
    reset();
    make<std::string>(Type::text, s);
  }

  /// Same type and equal contents (a real NaN equals nothing, as in SQL).
  friend bool operator==(const Value& a, const Value& b) noexcept;

 private:
  template <class I>
  static std::int64_t checked_int(I i) {
    if constexpr (std::is_unsigned_v<I> && sizeof(I) >= sizeof(std::int64_t)) {
      if (i > static_cast<I>(INT64_MAX)) throw_unsigned_overflow(static_cast<unsigned long long>(i));
    }
    return static_cast<std::int64_t>(i);
  }
  [[noreturn]] static void throw_unsigned_overflow(unsigned long long v);
  [[noreturn]] void throw_not(Type wanted) const;

  bool to_bool() const;
  std::int64_t to_int64() const;
  std::int64_t to_int_in(std::int64_t lo, std::uint64_t hi, bool is_signed, unsigned bits) const;
  double to_double() const;
  std::string to_text() const;
  Bytes to_bytes() const;
  Date to_date() const;
  Time to_time() const;
  Timestamp to_timestamp() const;

  /// Text and bytes own memory; every other type fits in one word and is trivially copyable.
  static constexpr bool owns(Type t) noexcept { return t == Type::text || t == Type::bytes; }
  template <class T>
  [[nodiscard]] T& ref() noexcept {
    return *std::launder(reinterpret_cast<T*>(m_store));
  }
  template <class T>
  [[nodiscard]] const T& ref() const noexcept {
    return *std::launder(reinterpret_cast<const T*>(m_store));
  }
  template <class T>
  [[nodiscard]] const T& held(Type t) const {
    if (m_type != t) [[unlikely]]
      throw_not(t);
    return ref<T>();
  }
  /// Stores a one-word value (the value holds nothing before).
  template <class T>
  void put(Type t, T v) noexcept {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(std::uint64_t));
    ::new (static_cast<void*>(m_store)) T(v);
    m_type = t;
  }
  /// Makes text or bytes in place (the value holds nothing before; null if this throws).
  template <class T, class... A>
  void make(Type t, A&&... args) {
    ::new (static_cast<void*>(m_store)) T(std::forward<A>(args)...);
    m_type = t;
  }
  /// A one-word value's bytes (its object, by implicit creation) and type.
  void copy_word(const Value& o) noexcept {
    std::memcpy(m_store, o.m_store, sizeof(std::uint64_t));
    m_type = o.m_type;
  }
  void copy_owned(const Value& o);
  void move_owned(Value& o) noexcept;
  /// Moves `o` in (this value holds nothing before).
  void take(Value& o) noexcept {
    if (owns(o.m_type)) move_owned(o);
    else copy_word(o);
  }
  void reset() noexcept {
    if (owns(m_type)) [[unlikely]]
      destroy_owned();
    m_type = Type::null;
  }
  void destroy_owned() noexcept;

  static constexpr std::size_t k_store = sizeof(std::string) > sizeof(Bytes) ? sizeof(std::string) : sizeof(Bytes);
  union {
    std::uint64_t m_word = 0;  // a null value's bytes are defined: copy_word() copies them
    alignas(std::string) alignas(Bytes) unsigned char m_store[k_store];
  };
  Type m_type = Type::null;
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
    if (m_type == Type::boolean) return ref<bool>();  // exact type: no call
    return to_bool();
  } else if constexpr (std::same_as<T, std::int64_t>) {
    if (m_type == Type::integer) return ref<std::int64_t>();
    return to_int64();
  } else if constexpr (std::integral<T>) {
    return static_cast<T>(to_int_in(static_cast<std::int64_t>(std::numeric_limits<T>::min()),
                                    static_cast<std::uint64_t>(std::numeric_limits<T>::max()),
                                    std::is_signed_v<T>, sizeof(T) * 8));
  } else if constexpr (std::same_as<T, double>) {
    if (m_type == Type::real) return ref<double>();
    return to_double();
  } else if constexpr (std::same_as<T, float>) {
    return static_cast<float>(to_double());
  } else if constexpr (std::same_as<T, std::string>) {
    if (m_type == Type::text) return ref<std::string>();
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

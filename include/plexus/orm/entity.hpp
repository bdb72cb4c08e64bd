// Entity<T>: a model's row as the struct it maps to, remembering the
// connection it came from and what its columns held (so save() writes only
// what changed, back there); and the per-model machinery Model<T> is built on
// (reading rows into T, its compiled INSERT, filling and touching fields).
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plexus/core/on_demand.hpp"
#include "plexus/core/error.hpp"
#include "plexus/orm/schema.hpp"
#include "plexus/query/builder.hpp"

namespace plexus {

/// find_or_fail() found nothing.
class NotFoundError : public Error {
 public:
  explicit NotFoundError(std::string message) : Error(ErrorKind::not_found, std::move(message)) {}
};

/// Parses a flat JSON object into Fields (null, bool, number, string values).
/// @throws UsageError for invalid JSON or nested values.
Fields fields_from_json(std::string_view json);
/// Serialises Fields as a JSON object (dates as ISO-8601 strings, bytes as \x hex).
std::string fields_to_json(const Fields& fields);

namespace detail {
struct EntityAccess;
}

/// A model instance that remembers which connection it came from and what its
/// columns held then, so save() writes only what changed, back to that database.
template <class T>
class Entity : public T {
  static_assert(Modeled<T>, "plexus::Entity<T>: T needs a `static constexpr auto schema = plexus::schema(...)`");
 public:
  Entity() = default;
  explicit Entity(T value) : T(std::move(value)) {}
  /// Connection it was loaded from or last saved to ("" for a new instance).
  [[nodiscard]] const std::string& origin() const noexcept { return m_origin; }
  [[nodiscard]] bool exists() const noexcept { return m_exists; }
  /// Names of the columns changed since it was loaded or saved.
  [[nodiscard]] std::vector<std::string> dirty() const {
    std::vector<std::string> out;
    T::schema.for_each([&](const auto& c, std::size_t) {
      if (!m_exists || changed(c)) out.emplace_back(c.name);
    });
    return out;
  }

 private:
  template <class>
  friend class Model;
  template <class>
  friend class ModelQuery;
  friend struct detail::EntityAccess;
  void remember(std::string_view origin) {
    detail::set_text(m_origin, origin);  // reuses the buffer when it is the same connection again
    m_exists = true;
    // Only the schema's columns (not loaded relations), member to member: no Value per column.
    T::schema.for_each([&](const auto& c, std::size_t) { m_original.*(c.member) = this->*(c.member); });
  }
  /// Whether column `c` differs from what was loaded or last saved.
  template <class Col>
  [[nodiscard]] bool changed(const Col& c) const {
    const auto& now = this->*(c.member);
    const auto& then = m_original.*(c.member);
    if constexpr (std::equality_comparable<std::remove_cvref_t<decltype(now)>>) return !(now == then);
    else return !(Value(now) == Value(then));
  }
  std::string m_origin;
  T m_original{};  // the columns as loaded or last saved (meaningful when m_exists)
  bool m_exists = false;
};

namespace detail {

template <Modeled T>
Value key_of(const T& obj);

struct EntityAccess {
  template <class T>
  static void remember(Entity<T>& e, std::string_view origin) {
    e.remember(origin);
  }
  /// Whether column `c` differs from what was loaded or last saved.
  template <class T, class Col>
  static bool changed(const Entity<T>& e, const Col& c) {
    return e.changed(c);
  }
  /// The key as loaded or last saved (what the row is found by).
  template <class T>
  static Value original_key(const Entity<T>& e) {
    return key_of(e.m_original);
  }
  /// Marks it deleted (exists() is false).
  template <class T>
  static void forget(Entity<T>& e) {
    e.m_exists = false;
  }
};

template <Modeled T>
using KeyColumn = std::tuple_element_t<T::schema.key_index(), std::remove_cvref_t<decltype(T::schema.columns())>>;

template <Modeled T>
Value key_of(const T& obj) {
  static_assert(T::schema.key_index() < T::schema.size(), "the schema needs a primary_key column (or one named \"id\")");
  return Value(obj.*(KeyColumn<T>::member));
}

/// Whether the database generates `obj`'s key on insert (it is 0 or NULL).
template <Modeled T>
bool key_is_generated(const T& obj) {
  using K = typename KeyColumn<T>::field;
  if constexpr (std::is_integral_v<K>) return obj.*(KeyColumn<T>::member) == 0;
  else {
    const Value key = key_of(obj);
    return key.is_null() || key == Value(0);
  }
}

/// Sets `obj`'s key to the key the database generated.
template <Modeled T>
void set_generated_key(T& obj, std::int64_t id) {
  using K = typename KeyColumn<T>::field;
  if constexpr (std::is_integral_v<K>) obj.*(KeyColumn<T>::member) = static_cast<K>(id);
  else obj.*(KeyColumn<T>::member) = Value(id).as<K>();
}

/// A relation's loaded values are matched by key text, so an int4 key on one
/// engine matches an int8 foreign key on another.
inline std::string match_key(const Value& v) { return v.to_string(); }

/// A model type's table (its name checked) and its columns, qualified so a
/// join with another table cannot make one ambiguous: made once per model type.
template <Modeled T>
struct SchemaShape {
  FixedTable table{std::string(T::schema.table())};
  FixedColumns columns{[] {
    std::vector<Expr> c;
    const std::string prefix = std::string(T::schema.table()) + ".";
    T::schema.for_each([&](const auto& col, std::size_t) { c.emplace_back(prefix + std::string(col.name)); });
    return c;
  }()};
};
/// The shape of T, inline: a model query's start costs one check that it is made.
template <Modeled T>
[[gnu::always_inline]] inline const SchemaShape<T>& schema_shape() {
  static const SchemaShape<T> shape;
  return shape;
}
template <Modeled T>
const FixedTable& schema_table() {
  return schema_shape<T>().table;
}
template <Modeled T>
const FixedColumns& schema_columns() {
  return schema_shape<T>().columns;
}

/// Rethrows `err` naming the column and the table it was read for.
[[noreturn]] void throw_column_error(std::string_view table, std::string_view column, const ConversionError& err);

/// Stores column `i` of `row` (or the value `v`) in the member of `obj` that
/// column `c` maps, converted to the member's type (text into the member's
/// own storage, no temporary). @throws ConversionError naming the column and the table.
template <Modeled T, class Col>
[[gnu::always_inline]] inline void assign_column(T& obj, const Col& c, Row row, std::size_t i) {
  try {
    read_cell(row, i, obj.*(c.member));
  } catch (ConversionError& err) {
    throw_column_error(T::schema.table(), c.name, err);
  }
}
template <Modeled T, class Col>
void assign_column(T& obj, const Col& c, const Value& v) {
  static const Columns one{std::vector<std::string>{std::string()}};
  assign_column<T>(obj, c, Row(&one, &v), 0);
}

/// Fills one entity from a row selected with schema_columns<T>() (same order).
template <Modeled T>
void hydrate_row(Row row, Entity<T>& e, const std::string& origin) {
  if (row.size() < T::schema.size())
    throw UsageError("a row of '" + std::string(T::schema.table()) + "' has " + std::to_string(row.size()) +
                     " columns; the schema declares " + std::to_string(T::schema.size()));
  T::schema.for_each([&](const auto& c, std::size_t i) { assign_column<T>(e, c, row, i); });
  EntityAccess::remember(e, origin);
}

/// Reads the result columns that a schema declares, by name (others are
/// ignored; missing ones keep their default).
template <Modeled T>
class ModelReader {
 public:
  explicit ModelReader(const Columns& cols) noexcept {
    // A cached statement hands every run the same column list: match names
    // once per list and thread, not once per query.
    thread_local Columns last;
    thread_local std::array<std::size_t, T::schema.size()> last_index{};
    if (!cols.same_list(last)) {
      T::schema.for_each([&](const auto& c, std::size_t i) { last_index[i] = cols.find(c.name).value_or(kAbsent); });
      last = cols;  // holds the list, so its address cannot be reused while remembered
    }
    m_index = last_index;
  }
  void read(Row row, T& obj) const {
    T::schema.for_each([&](const auto& c, std::size_t i) {
      if (m_index[i] != kAbsent) assign_column<T>(obj, c, row, m_index[i]);
    });
  }

 private:
  static constexpr std::size_t kAbsent = static_cast<std::size_t>(-1);
  std::array<std::size_t, T::schema.size()> m_index{};
};

/// `SELECT <schema columns> FROM <table> WHERE <key> = ? LIMIT 1` in one
/// dialect, compiled once per model type and dialect (find() runs it).
template <Modeled T>
const std::string& find_sql(const Grammar& g) {
  auto build = [&g] {
    QueryBuilder q{std::string(T::schema.table())};
    q.select(schema_columns<T>()).where(std::get<T::schema.key_index()>(T::schema.columns()).name, 0).limit(1);
    return q.to_sql(g).sql;
  };
  // One slot per grammar instance, filled on first use (thread-safe).
  static std::array<std::once_flag, Grammar::max_slots> once;
  static std::array<std::string, Grammar::max_slots> sql;
  const std::size_t slot = g.slot();
  std::call_once(once[slot], [&] { sql[slot] = build(); });
  return sql[slot];
}

/// Up to N values built in place, without an allocation (a model's row).
template <std::size_t N>
class InlineValues {
 public:
  InlineValues() = default;
  InlineValues(const InlineValues&) = delete;
  InlineValues& operator=(const InlineValues&) = delete;
  ~InlineValues() {
    for (std::size_t i = 0; i < m_size; ++i) at(i)->~Value();
  }
  template <class F>
  void add(const F& field) {
    new (at(m_size)) Value(field);
    ++m_size;
  }
  [[nodiscard]] std::span<const Value> span() noexcept { return {at(0), m_size}; }

 private:
  Value* at(std::size_t i) noexcept { return std::launder(reinterpret_cast<Value*>(m_buf) + i); }
  alignas(Value) unsigned char m_buf[N * sizeof(Value)];
  std::size_t m_size = 0;
};

/// A model's INSERT, compiled once per model type, dialect and whether the
/// key is generated (create() runs it): every column in schema order, the key
/// left out when the database generates it; `returning` reads that key back
/// where the dialect has RETURNING, `plain` is the same INSERT without it.
struct CompiledInsert {
  std::string returning;
  std::string plain;
};

template <Modeled T>
const CompiledInsert& insert_sql(const Grammar& g, bool generated) {
  auto build = [&g, generated] {
    Fields columns;
    T::schema.for_each([&](const auto& c, std::size_t i) {
      if (!(generated && i == T::schema.key_index())) columns.emplace_back(std::string(c.name), Value());
    });
    QueryBuilder q{std::string(T::schema.table())};
    CompiledInsert out;
    out.plain = q.insert_sql(g, {columns}).sql;
    if (generated && g.supports_returning()) {
      const std::string key(std::get<T::schema.key_index()>(T::schema.columns()).name);
      out.returning = q.insert_sql(g, {columns}, std::span<const std::string>(&key, 1)).sql;
    }
    return out;
  };
  static std::array<std::once_flag, Grammar::max_slots * 2> once;
  static std::array<CompiledInsert, Grammar::max_slots * 2> sql;
  const std::size_t slot = g.slot() * 2 + (generated ? 1 : 0);
  std::call_once(once[slot], [&] { sql[slot] = build(); });
  return sql[slot];
}

[[noreturn]] void throw_unknown_column(std::string_view table, std::string_view column);
[[noreturn]] void throw_guarded(std::string_view table, std::string_view column);

template <Modeled T>
void fill(T& obj, const Fields& attributes) {
  for (const auto& field : attributes) {
    const std::string& name = field.first;  // plain references: lambdas may capture them (clang 14)
    const Value& value = field.second;
    bool known = false;
    T::schema.for_each([&](const auto& c, std::size_t) {
      if (c.name != name) return;
      known = true;
      constexpr bool whitelist = T::schema.has_fillable();
      if (has(c.flags, ColumnFlags::guarded) || has(c.flags, ColumnFlags::primary_key) ||
          (whitelist && !has(c.flags, ColumnFlags::fillable)))
        throw_guarded(T::schema.table(), c.name);
      assign_column<T>(obj, c, value);
    });
    if (!known) throw_unknown_column(T::schema.table(), name);
  }
}

template <Modeled T>
Fields to_fields(const T& obj) {
  Fields f;
  T::schema.for_each([&](const auto& c, std::size_t) { f.emplace_back(std::string(c.name), Value(obj.*(c.member))); });
  return f;
}

inline Timestamp now_seconds() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

template <class F>
void set_now(F& field, bool only_if_unset) {
  if constexpr (std::is_same_v<F, Timestamp>) {
    if (!only_if_unset || field == Timestamp{}) field = now_seconds();
  } else if constexpr (std::is_same_v<F, std::optional<Timestamp>>) {
    if (!only_if_unset || !field) field = now_seconds();
  }
}

template <Modeled T>
void touch(T& obj, bool inserting) {
  T::schema.for_each([&](const auto& c, std::size_t) {
    if (inserting && has(c.flags, ColumnFlags::created_at)) set_now(obj.*(c.member), true);
    if (has(c.flags, ColumnFlags::updated_at)) set_now(obj.*(c.member), false);
  });
}

}  // namespace detail

}  // namespace plexus

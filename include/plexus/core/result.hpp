// Result sets: column names, rows of Values (stored flat, one allocation for
// the whole set), affected-row count and the last insert id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "plexus/core/value.hpp"

namespace plexus {

/// Column names of a result, with lookup by name.
class Columns {
 public:
  Columns() = default;
  explicit Columns(std::vector<std::string> names)
      : m_names(std::make_shared<const std::vector<std::string>>(std::move(names))) {}
  [[nodiscard]] std::size_t size() const noexcept { return m_names ? m_names->size() : 0; }
  [[nodiscard]] const std::string& operator[](std::size_t i) const { return (*m_names)[i]; }
  [[nodiscard]] const std::vector<std::string>& names() const noexcept;
  [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const noexcept {
    if (!m_names) return std::nullopt;
    const std::string* n = m_names->data();
    for (std::size_t i = 0, k = m_names->size(); i < k; ++i)
      if (std::string_view(n[i]) == name) return i;
    return std::nullopt;
  }
  /// @throws UsageError naming the column and listing the available ones.
  [[nodiscard]] std::size_t index_of(std::string_view name) const {
    if (auto i = find(name)) return *i;
    missing(name);
  }
  /// True when both share one list of names (not merely equal ones).
  [[nodiscard]] bool same_list(const Columns& o) const noexcept { return m_names && m_names == o.m_names; }

 private:
  [[noreturn]] void missing(std::string_view name) const;
  // Shared: a cached statement hands the same names to every Result without copying.
  std::shared_ptr<const std::vector<std::string>> m_names;
};

/// A driver's current row, read column by column without a Value in between:
/// what a visitor marked `RowVisitor::cells` is handed by an engine that can
/// (SQLite). The common kinds come straight from the engine; anything else
/// is the Value the row would have held, so a read converts exactly as
/// Value::as<T>() does. Valid during the visit only.
class ColumnSource {
 public:
  enum class Kind : std::uint8_t { integer, real, text, other };
  /// One column: its kind and, for the common kinds, its value.
  struct Cell {
    Kind kind = Kind::other;
    std::int64_t integer = 0;
    double real = 0;
    std::string_view text;
  };
  [[nodiscard]] const Columns& columns() const noexcept { return *m_columns; }
  virtual void cell(std::size_t i, Cell& out) const = 0;
  /// The column as the Value the row would have held.
  [[nodiscard]] virtual Value value(std::size_t i) const = 0;

 protected:
  explicit ColumnSource(const Columns& columns) noexcept : m_columns(&columns) {}
  ~ColumnSource() = default;

 private:
  const Columns* m_columns;
};

namespace detail {
/// What a Row read through a column source points its columns at: no
/// columns, so indexing it takes the cold path, which says why.
extern const Columns k_cell_row;
}  // namespace detail

/// One row: a view into a Result or Cursor; valid while that lives (a Cursor row until next()).
class Row {
 public:
  Row(const Columns* cols, const Value* vals) noexcept : m_cols(cols), m_vals(vals) {}
  /// A row read through its engine's column source (see ColumnSource): it
  /// holds no Values, so only read_cell() and the column names reach it.
  explicit Row(const ColumnSource* src) noexcept
      : m_cols(&detail::k_cell_row), m_vals(reinterpret_cast<const Value*>(src)) {}
  [[nodiscard]] std::size_t size() const noexcept { return columns().size(); }
  /// @throws UsageError when out of range.
  [[nodiscard, gnu::always_inline]] const Value& operator[](std::size_t i) const {
    if (i >= m_cols->size()) [[unlikely]] out_of_range(i);
    return m_vals[i];
  }
  /// @throws UsageError when no column has that name.
  [[nodiscard]] const Value& operator[](std::string_view name) const {
    if (auto i = m_cols->find(name)) [[likely]] return m_vals[*i];
    missing(name);
  }
  /// The engine's column source of a row handed to a `cells` visitor, else null.
  [[nodiscard]] const ColumnSource* source() const noexcept {
    return m_cols == &detail::k_cell_row ? reinterpret_cast<const ColumnSource*>(m_vals) : nullptr;
  }
  template <class T>
  [[nodiscard]] T get(std::size_t i) const {
    return (*this)[i].template as<T>();
  }
  template <class T>
  [[nodiscard]] T get(std::string_view name) const {
    return (*this)[name].template as<T>();
  }
  [[nodiscard]] const Columns& columns() const noexcept {
    if (m_cols == &detail::k_cell_row) [[unlikely]] return source()->columns();
    return *m_cols;
  }
  /// The row's Values (an empty range for a row read through a column source).
  [[nodiscard]] const Value* begin() const noexcept { return m_vals; }
  [[nodiscard]] const Value* end() const noexcept { return m_vals + m_cols->size(); }

 private:
  [[noreturn]] void out_of_range(std::size_t i) const;
  [[noreturn]] void missing(std::string_view name) const;
  const Columns* m_cols;
  const Value* m_vals;  ///< a row read through a column source: the source
};

namespace detail {
/// Sets `out` to `text`, which is not part of `out`: an append to the cleared
/// string, which reuses its storage without the overlap handling of assign().
inline void set_text(std::string& out, std::string_view text) {
  out.clear();
  out.append(text.data(), text.size());
}
/// read_cell() for a cell of any other kind or type: as the Value would convert.
template <class F>
[[gnu::noinline]] void read_other_cell(const ColumnSource& src, const ColumnSource::Cell& c, std::size_t i, F& out) {
  using K = ColumnSource::Kind;
  if (c.kind == K::integer) out = Value(c.integer).template as<F>();
  else if (c.kind == K::real) out = Value(c.real).template as<F>();
  else out = src.value(i).template as<F>();
}
}  // namespace detail

/// Reads column `i` of `row` into `out`, converted exactly as
/// `row[i].as<F>()` converts it (a ConversionError likewise): from the
/// engine's column source when the row has one, else from its Value. Text
/// goes into a std::string's own storage without a temporary.
template <class F>
[[gnu::always_inline]] inline void read_cell(Row row, std::size_t i, F& out) {
  if (const ColumnSource* src = row.source()) {
    if (i >= src->columns().size()) [[unlikely]]
      (void)Row(&src->columns(), nullptr)[i];  // the Row's own out-of-range error
    ColumnSource::Cell c;
    src->cell(i, c);
    using K = ColumnSource::Kind;
    if constexpr (std::is_same_v<F, std::string>) {
      if (c.kind == K::text) return detail::set_text(out, c.text);
    } else if constexpr (std::is_same_v<F, std::int64_t>) {
      if (c.kind == K::integer) return (void)(out = c.integer);
    } else if constexpr (std::is_same_v<F, double>) {
      if (c.kind == K::real) return (void)(out = c.real);
    }
    detail::read_other_cell(*src, c, i, out);
    return;
  }
  const Value& v = row[i];
  if constexpr (std::is_same_v<F, std::string>) {
    if (v.type() == Value::Type::text) return detail::set_text(out, v.raw_text());
  }
  out = v.template as<F>();
}

class Result {
 public:
  Result() = default;
  explicit Result(Columns cols) : m_cols(std::move(cols)) {}

  [[nodiscard]] const Columns& columns() const noexcept { return m_cols; }
  [[nodiscard]] std::size_t size() const noexcept { return m_rows; }
  [[nodiscard]] bool empty() const noexcept { return m_rows == 0; }
  /// @throws UsageError when out of range.
  [[nodiscard]] Row operator[](std::size_t i) const {
    if (i >= m_rows) [[unlikely]] out_of_range(i);
    return Row(&m_cols, m_values.data() + i * m_cols.size());
  }
  [[nodiscard]] Row front() const { return (*this)[0]; }

  /// Rows changed by INSERT/UPDATE/DELETE (engine's count).
  [[nodiscard]] std::uint64_t affected_rows() const noexcept { return m_affected; }
  /// Id generated by the last INSERT when the engine reports one.
  [[nodiscard]] std::optional<std::int64_t> last_insert_id() const noexcept { return m_last_id; }

  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Row;
    iterator() = default;
    iterator(const Result* r, std::size_t i) : m_r(r), m_i(i) {}
    Row operator*() const { return Row(&m_r->m_cols, m_r->m_values.data() + m_i * m_r->m_cols.size()); }
    iterator& operator++() {
      ++m_i;
      return *this;
    }
    iterator operator++(int) {
      auto t = *this;
      ++m_i;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.m_i == b.m_i; }

   private:
    const Result* m_r = nullptr;
    std::size_t m_i = 0;
  };
  [[nodiscard]] iterator begin() const { return {this, 0}; }
  [[nodiscard]] iterator end() const { return {this, m_rows}; }

  // Building (used by drivers).
  /// Appends a row of columns().size() values and returns where to write them.
  Value* append_row();
  void reserve_rows(std::size_t n) { m_values.reserve(n * m_cols.size()); }
  void set_affected_rows(std::uint64_t n) noexcept { m_affected = n; }
  void set_last_insert_id(std::optional<std::int64_t> id) noexcept { m_last_id = id; }
  void set_columns(Columns c) { m_cols = std::move(c); }

 private:
  [[noreturn]] void out_of_range(std::size_t i) const;
  Columns m_cols;
  std::vector<Value> m_values;
  std::size_t m_rows = 0;
  std::uint64_t m_affected = 0;
  std::optional<std::int64_t> m_last_id;
};

/// Takes the rows of a query one at a time, as the driver reads them, so a
/// typed read (structs, models) never builds a Result. Each Row is only valid
/// during the call. Borrowed: `fn` must outlive the visitor. The callback must
/// not run queries itself (the session is busy until the rows are read).
class RowVisitor {
 public:
  /// Marks a visitor that reads each column with read_cell() only: an engine
  /// that can hands it rows read through a ColumnSource, without Values.
  struct Cells {};
  static constexpr Cells cells{};

  /// `fn(Row)` may return bool: false stops the read after that row.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, RowVisitor>)
  RowVisitor(F& fn, Cells) noexcept : RowVisitor(fn) {
    m_cells = true;
  }
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, RowVisitor>)
  explicit RowVisitor(F& fn) noexcept
      : m_fn(&fn), m_call([](void* f, Row row) -> bool {
          if constexpr (std::is_convertible_v<std::invoke_result_t<F&, Row>, bool>) {
            return static_cast<bool>((*static_cast<F*>(f))(row));
          } else {
            (*static_cast<F*>(f))(row);
            return true;
          }
        }) {}
  /// Hands over one row; false when the visitor wants no more.
  bool operator()(Row row) const {
    ++m_calls;
    return m_call(m_fn, row);
  }
  /// Marks a visitor that keeps every row in `rows` (a std::vector or
  /// anything with size() and reserve()): an engine that knows how many rows
  /// are coming (a buffered result) says so first, and the container grows once.
  template <class C>
  RowVisitor& collecting_into(C& rows) noexcept {
    m_rows = &rows;
    m_reserve = [](void* c, std::uint64_t n) {
      auto& v = *static_cast<C*>(c);
      v.reserve(v.size() + static_cast<std::size_t>(n));
    };
    return *this;
  }
  /// Called by an engine, before the first row, with the number of rows the
  /// result holds; does nothing for a visitor that does not collect.
  void expect(std::uint64_t rows) const {
    if (m_reserve) m_reserve(m_rows, rows);
  }
  /// Rows handed over so far (a read that has handed over rows is not retried elsewhere).
  [[nodiscard]] std::uint64_t calls() const noexcept { return m_calls; }
  /// It reads columns only through read_cell() (rows may come without Values).
  [[nodiscard]] bool reads_cells() const noexcept { return m_cells; }

 private:
  void* m_fn;
  bool (*m_call)(void*, Row);
  void* m_rows = nullptr;
  void (*m_reserve)(void*, std::uint64_t) = nullptr;
  mutable std::uint64_t m_calls = 0;
  bool m_cells = false;
};

/// A source of rows, pulled one at a time (implemented by drivers).
class RowSource {
 public:
  virtual ~RowSource() = default;
  [[nodiscard]] virtual const Columns& columns() const = 0;
  /// Fills `row` (resized to columns().size()) with the next row; false at the end.
  virtual bool next(std::vector<Value>& row) = 0;
  /// Rows already in memory, handed out one at a time (for an engine that
  /// cannot stream, or a cursor inside a transaction).
  [[nodiscard]] static std::unique_ptr<RowSource> of(Result rows);
};

/// A streaming result: rows are fetched as you iterate, never all held at once.
/// The connection it runs on stays busy until the cursor is exhausted or destroyed.
class Cursor {
 public:
  explicit Cursor(std::unique_ptr<RowSource> src);
  Cursor(Cursor&&) noexcept = default;
  Cursor& operator=(Cursor&&) noexcept = default;
  ~Cursor();

  [[nodiscard]] const Columns& columns() const { return m_src->columns(); }
  /// Advances to the next row; false when there are no more.
  bool next();
  /// The current row; valid until the next call to next().
  [[nodiscard]] Row row() const { return Row(&m_src->columns(), m_row.data()); }
  /// Rows fetched so far.
  [[nodiscard]] std::size_t position() const noexcept { return m_count; }

  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Row;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Cursor* c) : m_c(c) { advance(); }
    Row operator*() const { return m_c->row(); }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, const iterator& b) { return a.m_c == b.m_c; }

   private:
    void advance() {
      if (m_c && !m_c->next()) m_c = nullptr;
    }
    Cursor* m_c = nullptr;
  };
  iterator begin() { return iterator(this); }
  iterator end() { return iterator(); }

 private:
  std::unique_ptr<RowSource> m_src;
  std::vector<Value> m_row;
  std::size_t m_count = 0;
  bool m_done = false;
};

}  // namespace plexus

// What a query is, as a plain value: the table's select list, conditions,
// joins, grouping, order and paging (QuerySpec), and the names it is made of
// (Expr, FixedColumns, FixedTable). The fluent QueryBuilder fills a spec;
// the compiler (src/query/compile.cpp) turns one into SQL for a dialect; a
// shard group's planner reads one to plan a scatter-gather.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/core/small_vector.hpp"
#include "plexus/core/value.hpp"
#include "plexus/driver/grammar.hpp"
#include "plexus/query/query.hpp"

namespace plexus {

class QueryBuilder;

/// Column → value pairs for insert/update, in order: {{"name", "John"}, {"age", 42}}.
using Fields = std::vector<std::pair<std::string, Value>>;

/// A select-list entry: a column name (validated, quoted) or a Raw expression.
class Expr {
 public:
  Expr(const char* column) : m_text(column) {}
  Expr(std::string column) : m_text(std::move(column)) {}
  Expr(std::string_view column) : m_text(column) {}
  Expr(Raw r) : m_text(std::move(r.sql)), m_bindings(std::move(r.bindings)), m_raw(true) {}
  [[nodiscard]] bool is_raw() const noexcept { return m_raw; }
  [[nodiscard]] const std::string& text() const noexcept { return m_text; }
  [[nodiscard]] const std::vector<Value>& bindings() const noexcept { return m_bindings; }
  /// The form the builder found the name in when it checked it (other until then).
  [[nodiscard]] NameForm form() const noexcept { return m_form; }
  /// Checks a column name (a raw expression is not a name) and keeps its form.
  /// @throws UsageError for a bad name.
  void check() {
    if (!m_raw) m_form = name_form(m_text);
  }

 private:
  std::string m_text;
  std::vector<Value> m_bindings;
  bool m_raw = false;
  NameForm m_form = NameForm::other;  // set when checked: quoted without a second look
};

/// A select list made once and kept for the program's life (a model's
/// columns): each name is checked when it is made, and builders given it keep
/// it by reference instead of copying it. @throws UsageError for a bad name.
class FixedColumns {
 public:
  explicit FixedColumns(std::vector<Expr> columns);
  [[nodiscard]] std::span<const Expr> columns() const noexcept { return m_columns; }
  /// Unique per list made in this process: a builder's shape names it.
  [[nodiscard]] std::uint64_t serial() const noexcept { return m_serial; }
  /// No raw expression among the columns (so no values).
  [[nodiscard]] bool plain() const noexcept { return m_plain; }

 private:
  std::vector<Expr> m_columns;
  std::uint64_t m_serial;
  bool m_plain = true;
};

/// A table name made once and kept (a model's table): checked when it is
/// made, so a builder given it records it without a second look.
///   static const plexus::FixedTable users("users");
///   auto q = plexus::QueryBuilder(conn, users).where("id", 7);
/// @throws UsageError for a bad name.
class FixedTable {
 public:
  explicit FixedTable(std::string name);
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }
  [[nodiscard]] NameForm form() const noexcept { return m_form; }

 private:
  std::string m_name;
  NameForm m_form;
};

/// What a query's SQL is built from (the table is the builder's: see
/// QueryBuilder::table()).
struct QuerySpec {
  /// The select list: the spec's own Exprs, or a FixedColumns it borrows until
  /// the list is changed (every change goes through own()).
  class SelectList {
   public:
    [[nodiscard]] std::span<const Expr> view() const noexcept {
      return m_fixed ? m_fixed->columns() : std::span<const Expr>(m_own.data(), m_own.size());
    }
    [[nodiscard]] const Expr* begin() const noexcept { return view().data(); }
    [[nodiscard]] const Expr* end() const noexcept { return view().data() + view().size(); }
    [[nodiscard]] std::size_t size() const noexcept { return view().size(); }
    [[nodiscard]] bool empty() const noexcept { return view().empty(); }
    [[nodiscard]] const Expr& operator[](std::size_t i) const noexcept { return view()[i]; }
    void borrow(const FixedColumns& fixed) noexcept {
      m_own.clear();
      m_fixed = &fixed;
    }
    /// The spec's own list, copied from a borrowed one first.
    detail::SmallVector<Expr, 4>& own() {
      if (m_fixed) {
        m_own.assign(m_fixed->columns().begin(), m_fixed->columns().end());
        m_fixed = nullptr;
      }
      return m_own;
    }

   private:
    detail::SmallVector<Expr, 4> m_own;
    const FixedColumns* m_fixed = nullptr;
  };

  /// One WHERE/HAVING condition.
  struct Condition {
    enum class Kind { basic, in, not_in, in_sub, not_in_sub, null, not_null, between, not_between, raw, group };
    /// Each member by its own initializer: `emplace_back()` would otherwise
    /// zero the whole condition before initializing it.
    Condition() noexcept {}
    Kind kind = Kind::basic;
    bool use_or = false;
    NameForm form = NameForm::other;  // of column, as checked when it entered the builder
    std::string column;
    std::string_view op;        // a canonical operator ("=", "like", …), static storage
    Value value;                // the value of a basic comparison
    std::vector<Value> values;  // in, between and raw bindings
    std::string raw_sql;
    std::shared_ptr<const QueryBuilder> nested;  // group or subquery
  };
  /// A spec's conditions: the first few without an allocation.
  using Conditions = detail::SmallVector<Condition, 2>;

  struct Join {
    std::string type, table, first, op, second;
  };

  struct Order {
    std::string column;  // empty for raw
    bool desc = false;
    std::string raw_sql;
    std::vector<Value> raw_bindings;
  };

  SelectList columns;
  bool distinct = false;
  Conditions wheres;
  std::vector<Join> joins;
  std::vector<std::string> groups;
  Conditions havings;
  std::vector<Order> orders;
  std::optional<std::uint64_t> limit, offset;
  bool all_rows = false;  ///< an update/delete without where() is meant
};

}  // namespace plexus

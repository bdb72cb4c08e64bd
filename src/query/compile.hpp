// The compiler: SQL text and values for one statement of a spec, in one
// dialect (private to src/query/). Names the builder checked are quoted
// without a second look; values are always bound.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "driver/sql_lexer.hpp"
#include "plexus/core/error.hpp"
#include "plexus/query/builder.hpp"

namespace plexus::detail {


/// Accumulates SQL and bindings for one statement in one dialect.
class SqlWriter {
 public:
  explicit SqlWriter(const Grammar& g) : SqlWriter(g, own) {}
  /// Compiles into `out` (a call's reused storage), after what it holds.
  SqlWriter(const Grammar& g, Query& out) : grammar(g), q(out) { q.sql.reserve(160); }
  void bind(const Value& v) {
    q.bindings.push_back(v);
    grammar.placeholder(q.sql, q.bindings.size());
  }
  void raw(std::string_view sql, const std::vector<Value>& values) {
    std::size_t used = 0;
    rewrite_placeholders(sql, grammar.syntax(), q.sql, [&](std::string& out) {
      if (used >= values.size()) {
        ++used;
        return;
      }
      q.bindings.push_back(values[used++]);
      grammar.placeholder(out, q.bindings.size());
    });
    if (used != values.size())
      throw UsageError("raw SQL '" + std::string(sql.substr(0, 80)) + "' has " + std::to_string(used) +
                       " placeholder(s) but " + std::to_string(values.size()) + " value(s)");
  }
  void ident(std::string_view name) { grammar.identifier(q.sql, name); }
  /// A name the builder already checked (name_form): quoted without a second look.
  void ident(std::string_view name, NameForm form) {
    if (form == NameForm::plain) grammar.quote(q.sql, name);  // the common case, without a call more
    else grammar.checked_identifier(q.sql, name, form);
  }
  std::string& sql() { return q.sql; }

  const Grammar& grammar;
  Query own;
  Query& q;
};


// The parts of a SELECT, written into `w` (a subquery's, a group's, an aggregate's inner read).
void write_where(SqlWriter& w, const QuerySpec::Conditions& conds);
void write_from(SqlWriter& w, const QueryBuilder& q);
void write_select(SqlWriter& w, const QueryBuilder& q);

// One function per statement kind; each checks what it needs (names, a
// where() before changing rows, the dialect's bind limit) before writing.
[[nodiscard]] Query compile_select(const Grammar& g, const QueryBuilder& q);
/// With `returning`, `plain_size` (when given) is set to the length of the
/// same INSERT without its RETURNING clause: the statement a session that
/// reads the key as the row id runs instead.
[[nodiscard]] Query compile_insert(const Grammar& g, std::string_view table, std::span<const Fields> rows,
                                   std::span<const std::string> returning, std::size_t* plain_size = nullptr);
[[nodiscard]] Query compile_update(const Grammar& g, const QueryBuilder& q, const Fields& fields);
/// UPDATE … SET column = column + by, also…
[[nodiscard]] Query compile_increment(const Grammar& g, const QueryBuilder& q, std::string_view column, std::int64_t by,
                                      const Fields& also);
[[nodiscard]] Query compile_delete(const Grammar& g, const QueryBuilder& q);
[[nodiscard]] Query compile_upsert(const Grammar& g, const QueryBuilder& q, const std::vector<Fields>& rows,
                                   std::span<const std::string> unique_by, std::span<const std::string> update);
[[nodiscard]] Query compile_aggregate(const Grammar& g, const QueryBuilder& q, std::string_view function,
                                      std::string_view column);

}  // namespace plexus::detail

// A spec compiled for a dialect: one function per statement kind. (The shape
// cache a read is looked up in before it is compiled is run.cpp's.)
#include "query/compile.hpp"

#include <algorithm>
#include <cstring>

#include "driver/sql_lexer.hpp"
#include "plexus/core/error.hpp"

namespace plexus {

using namespace std::string_view_literals;
namespace {
/// A canonical operator as it is written in SQL, with a space either side.
std::string_view sql_op(std::string_view op) {
  if (op == "=") return " = ";
  static constexpr std::pair<std::string_view, std::string_view> spelled[] = {
      {"<>", " <> "}, {"<", " < "}, {"<=", " <= "}, {">", " > "}, {">=", " >= "},
      {"like", " LIKE "}, {"not like", " NOT LIKE "}, {"ilike", " ILIKE "}};
  for (const auto& [canonical, sql] : spelled)
    if (op == canonical) return sql;
  throw UsageError("unsupported operator '" + std::string(op) + "'");  // normalize_op let nothing else in
}

}  // namespace

// ---- compiling --------------------------------------------------------------

void detail::write_where(SqlWriter& c, const QuerySpec::Conditions& conds) {
  bool first = true;
  for (const auto& w : conds) {
    if (!first) c.sql() += w.use_or ? " OR "sv : " AND "sv;
    first = false;
    switch (w.kind) {
      case QuerySpec::Condition::Kind::basic:
        if (w.op == "ilike" && !c.grammar.native_ilike()) {
          c.sql() += "LOWER("sv;
          c.ident(w.column, w.form);
          c.sql() += ") LIKE LOWER("sv;
          c.bind(w.value);
          c.sql() += ")"sv;
        } else {
          c.ident(w.column, w.form);
          c.sql() += sql_op(w.op);
          c.bind(w.value);
        }
        break;
      case QuerySpec::Condition::Kind::in:
      case QuerySpec::Condition::Kind::not_in:
        if (w.values.empty()) {  // IN () is invalid SQL: say what it means
          c.sql() += w.kind == QuerySpec::Condition::Kind::in ? "1 = 0"sv : "1 = 1"sv;
          break;
        }
        c.ident(w.column, w.form);
        c.sql() += w.kind == QuerySpec::Condition::Kind::in ? " IN ("sv : " NOT IN ("sv;
        for (std::size_t i = 0; i < w.values.size(); ++i) {
          if (i) c.sql() += ", "sv;
          c.bind(w.values[i]);
        }
        c.sql() += ')';
        // Longer than one statement may bind: refused before anything is sent.
        if (c.q.bindings.size() > c.grammar.max_parameters())
          throw UsageError("where_in('" + std::string(w.column) + "') binds " + std::to_string(w.values.size()) +
                           " values, and the statement " + std::to_string(c.q.bindings.size()) + " in all; " +
                           std::string(c.grammar.name()) + " takes at most " +
                           std::to_string(c.grammar.max_parameters()) +
                           " per statement: look the keys up in chunks, or join a table that holds them");
        break;
      case QuerySpec::Condition::Kind::in_sub:
      case QuerySpec::Condition::Kind::not_in_sub: {
        c.ident(w.column, w.form);
        c.sql() += w.kind == QuerySpec::Condition::Kind::in_sub ? " IN ("sv : " NOT IN ("sv;
        write_select(c, *w.nested);
        c.sql() += ')';
        break;
      }
      case QuerySpec::Condition::Kind::null:
      case QuerySpec::Condition::Kind::not_null:
        c.ident(w.column, w.form);
        c.sql() += w.kind == QuerySpec::Condition::Kind::null ? " IS NULL"sv : " IS NOT NULL"sv;
        break;
      case QuerySpec::Condition::Kind::between:
      case QuerySpec::Condition::Kind::not_between:
        c.ident(w.column, w.form);
        c.sql() += w.kind == QuerySpec::Condition::Kind::between ? " BETWEEN "sv : " NOT BETWEEN "sv;
        c.bind(w.values[0]);
        c.sql() += " AND "sv;
        c.bind(w.values[1]);
        break;
      case QuerySpec::Condition::Kind::raw:
        c.sql() += '(';
        c.raw(w.raw_sql, w.values);
        c.sql() += ')';
        break;
      case QuerySpec::Condition::Kind::group:
        if (w.nested->spec().wheres.empty()) {
          c.sql() += "1 = 1"sv;
          break;
        }
        c.sql() += '(';
        write_where(c, w.nested->spec().wheres);
        c.sql() += ')';
        break;
    }
  }
}

void detail::write_from(SqlWriter& c, const QueryBuilder& q) {
  const QuerySpec& p = q.spec();
  c.sql() += " FROM "sv;
  c.ident(q.table());
  for (const auto& j : p.joins) {
    c.sql() += ' ' + j.type + ' ';
    c.ident(j.table);
    if (!j.first.empty()) {
      c.sql() += " ON "sv;
      c.ident(j.first);
      c.sql() += ' ' + j.op + ' ';
      c.ident(j.second);
    }
  }
  if (!p.wheres.empty()) {
    c.sql() += " WHERE "sv;
    write_where(c, p.wheres);
  }
}

void detail::write_select(SqlWriter& c, const QueryBuilder& q) {
  const QuerySpec& p = q.spec();
  c.sql() += p.distinct ? "SELECT DISTINCT "sv : "SELECT "sv;
  if (p.columns.empty()) c.sql() += '*';
  for (std::size_t i = 0; i < p.columns.size(); ++i) {
    if (i) c.sql() += ", "sv;
    if (p.columns[i].is_raw()) c.raw(p.columns[i].text(), p.columns[i].bindings());
    else c.ident(p.columns[i].text(), p.columns[i].form());
  }
  write_from(c, q);
  if (!p.groups.empty()) {
    c.sql() += " GROUP BY "sv;
    for (std::size_t i = 0; i < p.groups.size(); ++i) {
      if (i) c.sql() += ", "sv;
      c.ident(p.groups[i]);
    }
  }
  if (!p.havings.empty()) {
    c.sql() += " HAVING "sv;
    write_where(c, p.havings);
  }
  if (!p.orders.empty()) {
    c.sql() += " ORDER BY "sv;
    for (std::size_t i = 0; i < p.orders.size(); ++i) {
      if (i) c.sql() += ", "sv;
      if (p.orders[i].column.empty()) {
        c.raw(p.orders[i].raw_sql, p.orders[i].raw_bindings);
      } else {
        c.ident(p.orders[i].column);
        c.sql() += p.orders[i].desc ? " DESC"sv : " ASC"sv;
      }
    }
  }
  c.grammar.limit_offset(c.sql(), p.limit, p.offset);
}

const Grammar& QueryBuilder::grammar() const {
  Queryable& t = require_target("compile");
  // A shard group has no one dialect: each member is asked in its own, and a
  // read may be rewritten for the merge. Its SQL is what preview() shows.
  if (t.planning_target())
    throw UsageError("this query on '" + table() + "' runs on a shard group, which compiles it for each member in "
                     "that member's dialect (and rewrites a read for the merge): see what each member runs with "
                     "group.preview(query), or compile for one dialect with to_sql(\"postgres\")");
  return t.as_single()->grammar();
}

Query QueryBuilder::to_sql() const { return to_sql(grammar()); }

Query QueryBuilder::to_sql(const Grammar& g) const { return detail::compile_select(g, *this); }

Query detail::compile_select(const Grammar& g, const QueryBuilder& q) {
  SqlWriter c(g);
  write_select(c, q);
  return std::move(c.q);
}

Query QueryBuilder::insert_sql(const Grammar& g, const std::vector<Fields>& rows,
                               std::span<const std::string> returning) const {
  return detail::compile_insert(g, table(), rows, returning);
}
Query QueryBuilder::update_sql(const Grammar& g, const Fields& fields) const {
  return detail::compile_update(g, *this, fields);
}
Query QueryBuilder::delete_sql(const Grammar& g) const { return detail::compile_delete(g, *this); }
Query QueryBuilder::upsert_sql(const Grammar& g, const std::vector<Fields>& rows, std::span<const std::string> unique_by,
                               std::span<const std::string> update) const {
  return detail::compile_upsert(g, *this, rows, unique_by, update);
}
Query QueryBuilder::increment_sql(const Grammar& g, std::string_view column, std::int64_t by, const Fields& also) const {
  return detail::compile_increment(g, *this, column, by, also);
}
Query QueryBuilder::aggregate_sql(const Grammar& g, std::string_view function, std::string_view column) const {
  return detail::compile_aggregate(g, *this, function, column);
}

// ---- statements that change rows, and aggregates ------------------------------

Query detail::compile_insert(const Grammar& g, std::string_view table, std::span<const Fields> rows,
                             std::span<const std::string> returning, std::size_t* plain_size) {
  const std::string name(table);
  if (rows.empty() || rows.front().empty()) throw UsageError("insert into '" + name + "' needs at least one column");
  const Fields& head = rows.front();
  for (const auto& [col, v] : head) check_name(col);
  SqlWriter c(g);
  c.sql() += "INSERT INTO "sv;
  c.ident(table);
  c.sql() += " ("sv;
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (i) c.sql() += ", "sv;
    c.ident(head[i].first);
  }
  c.sql() += ") VALUES "sv;
  c.q.bindings.reserve(rows.size() * head.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const Fields& row = rows[r];
    if (row.size() != head.size())
      throw UsageError("insert into '" + name + "': row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                       " columns, the first has " + std::to_string(head.size()));
    c.sql() += r ? ", ("sv : "("sv;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (row[i].first != head[i].first)
        throw UsageError("insert into '" + name + "': row " + std::to_string(r) + " has column '" + row[i].first +
                         "' where the first row has '" + head[i].first + "'");
      if (i) c.sql() += ", "sv;
      c.bind(row[i].second);
    }
    c.sql() += ')';
  }
  if (!returning.empty()) {
    if (!g.supports_returning())
      throw UsageError(std::string(g.name()) + " has no INSERT … RETURNING; use insert_get_id()");
    if (plain_size) *plain_size = c.sql().size();
    c.sql() += " RETURNING "sv;
    for (std::size_t i = 0; i < returning.size(); ++i) {
      if (i) c.sql() += ", "sv;
      c.ident(returning[i]);
    }
  }
  return std::move(c.q);
}

namespace {
/// Refuses a statement changing every row unless all_rows() was called.
void require_where(const QueryBuilder& q, std::string_view what) {
  const QuerySpec& p = q.spec();
  if (!p.wheres.empty() || p.all_rows) return;
  throw UsageError(std::string(what) + " of '" + q.table() +
                   "' has no where(): it would change every row. Add a where(), or call all_rows() first to say "
                   "that every row is meant");
}
}  // namespace

Query detail::compile_update(const Grammar& g, const QueryBuilder& q, const Fields& fields) {
  const QuerySpec& p = q.spec();
  if (fields.empty()) throw UsageError("update of '" + q.table() + "' needs at least one column");
  require_where(q, "update");
  SqlWriter c(g);
  c.sql() += "UPDATE "sv;
  c.ident(q.table());
  c.sql() += " SET "sv;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) c.sql() += ", "sv;
    check_name(fields[i].first);
    c.ident(fields[i].first);
    c.sql() += " = "sv;
    c.bind(fields[i].second);
  }
  if (!p.wheres.empty()) {
    c.sql() += " WHERE "sv;
    write_where(c, p.wheres);
  }
  return std::move(c.q);
}

Query detail::compile_increment(const Grammar& g, const QueryBuilder& q, std::string_view column, std::int64_t by,
                                const Fields& also) {
  const QuerySpec& p = q.spec();
  require_where(q, "increment");
  check_name(column);
  SqlWriter c(g);
  c.sql() += "UPDATE "sv;
  c.ident(q.table());
  c.sql() += " SET "sv;
  c.ident(column);
  c.sql() += " = "sv;
  c.ident(column);
  c.sql() += " + ";
  c.bind(Value(by));
  for (const auto& [col, v] : also) {
    check_name(col);
    c.sql() += ", "sv;
    c.ident(col);
    c.sql() += " = "sv;
    c.bind(v);
  }
  if (!p.wheres.empty()) {
    c.sql() += " WHERE "sv;
    write_where(c, p.wheres);
  }
  return std::move(c.q);
}

Query detail::compile_delete(const Grammar& g, const QueryBuilder& q) {
  const QuerySpec& p = q.spec();
  require_where(q, "delete");
  SqlWriter c(g);
  c.sql() += "DELETE FROM "sv;
  c.ident(q.table());
  if (!p.wheres.empty()) {
    c.sql() += " WHERE "sv;
    write_where(c, p.wheres);
  }
  return std::move(c.q);
}

Query detail::compile_upsert(const Grammar& g, const QueryBuilder& q, const std::vector<Fields>& rows,
                             std::span<const std::string> unique_by, std::span<const std::string> update) {
  if (unique_by.empty()) throw UsageError("upsert into '" + q.table() + "' needs the unique column(s) to match on");
  for (const auto& u : unique_by) check_name(u);
  for (const auto& u : update) check_name(u);
  Query out = compile_insert(g, q.table(), rows, {});
  g.upsert_tail(out.sql, unique_by, update);
  return out;
}

Query detail::compile_aggregate(const Grammar& g, const QueryBuilder& q, std::string_view function,
                                std::string_view column) {
  const QuerySpec& p = q.spec();
  if (column != "*") check_name(column);
  SqlWriter c(g);
  auto call = [&](SqlWriter& cc) {
    cc.sql() += "SELECT "sv;
    cc.sql() += function;
    cc.sql() += '(';
    if (column == "*"sv) cc.sql() += '*';
    else cc.ident(column);
    cc.sql() += ") AS "sv;
    g.quote(cc.sql(), "aggregate");
  };
  if (!p.groups.empty() || p.distinct || p.limit || p.offset) {
    // Aggregate over the rows the query returns, not over the groups' rows.
    call(c);
    c.sql() += " FROM ("sv;
    QueryBuilder inner = q;
    if (inner.spec().columns.empty() && !p.groups.empty())  // SELECT * is invalid with GROUP BY on most engines
      inner.spec().columns.own().assign(p.groups.begin(), p.groups.end());
    write_select(c, inner);
    c.sql() += ") AS "sv;
    g.quote(c.sql(), "plexus_sub");
    return std::move(c.q);
  }
  call(c);
  write_from(c, q);
  return std::move(c.q);
}

}  // namespace plexus

#include "plexus/query/builder.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "driver/placeholders.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/database.hpp"
#include "plexus/db/queryable.hpp"

namespace plexus {

using namespace std::string_view_literals;
namespace {

// Names are checked (check_name, grammar.hpp) when they enter the builder, so
// a bad one fails at the call that gave it, whatever dialect it is compiled to.

/// The canonical (lower-case) spelling of a comparison operator, without allocating.
std::string_view normalize_op(std::string_view op) {
  if (op == "=") return "=";  // by far the most common
  auto same = [op](std::string_view canonical) {
    if (op.size() != canonical.size()) return false;
    for (std::size_t i = 0; i < op.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(op[i])) != canonical[i]) return false;
    return true;
  };
  if (op == "!=") return "<>";
  static constexpr std::string_view allowed[] = {"<>", "<", "<=", ">", ">=", "like", "not like", "ilike"};
  for (auto a : allowed)
    if (same(a)) return a;
  throw UsageError("unsupported operator '" + std::string(op) +
                   "' (use =, <>, !=, <, <=, >, >=, like, not like, ilike; or where_raw)");
}

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

/// Accumulates SQL and bindings for one statement in one dialect.
class QueryBuilder::Compiler {
 public:
  explicit Compiler(const Grammar& g) : Compiler(g, own) {}
  /// Compiles into `out` (a call's reused storage), after what it holds.
  Compiler(const Grammar& g, Query& out) : grammar(g), q(out) { q.sql.reserve(160); }
  void bind(const Value& v) {
    q.bindings.push_back(v);
    grammar.placeholder(q.sql, q.bindings.size());
  }
  void raw(std::string_view sql, const std::vector<Value>& values) {
    std::size_t used = 0;
    detail::rewrite_placeholders(sql, q.sql, [&](std::string& out) {
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

namespace {
/// The storage a thread reuses for the statement of a read it runs at once.
struct CallScratch {
  Query query;
  bool busy = false;
};
thread_local CallScratch t_scratch;
}  // namespace

detail::CallSql::CallSql() : m_shared(!t_scratch.busy) {
  if (m_shared) {
    t_scratch.busy = true;
    m_query = &t_scratch.query;
  } else {
    m_query = &m_own.emplace();
  }
}

detail::CallSql::~CallSql() {
  if (!m_shared) return;
  m_query->sql.clear();  // capacity kept; the values are not kept past the call
  m_query->bindings.clear();
  t_scratch.busy = false;
}

QueryBuilder::QueryBuilder(std::string table) : m_table(std::move(table)), m_table_form(name_form(m_table)) {}
QueryBuilder::QueryBuilder(Queryable& target, std::string table)
    : m_target(&target), m_table(std::move(table)), m_table_form(name_form(m_table)) {}

QueryBuilder::QueryBuilder(std::shared_ptr<Queryable> target, std::string table)
    : m_keep(std::move(target)), m_target(m_keep.get()), m_table(std::move(table)), m_table_form(name_form(m_table)) {}

QueryBuilder Queryable::table(std::string_view name) { return QueryBuilder(*this, std::string(name)); }
QueryBuilder Database::table(std::string_view table, std::string_view connection_name) {
  return connection(connection_name).table(table);
}

// ---- building ---------------------------------------------------------------

QueryBuilder& QueryBuilder::select(std::initializer_list<Expr> columns) {
  return select(std::span<const Expr>(columns.begin(), columns.size()));
}
QueryBuilder& QueryBuilder::select(std::initializer_list<const char*> columns) {
  auto& own = m_columns.own();
  own.clear();
  own.reserve(columns.size());
  for (const char* name : columns) {
    if (!name) throw UsageError("select() on '" + m_table + "' was given a null column name");
    Expr& e = own.emplace_back(name);
    e.m_form = name_form(e.text());
  }
  return *this;
}
QueryBuilder& QueryBuilder::select(std::span<const Expr> columns) {
  auto& own = m_columns.own();
  own.assign(columns.begin(), columns.end());
  for (auto& c : own)
    if (!c.is_raw()) c.m_form = name_form(c.text());
  return *this;
}
QueryBuilder& QueryBuilder::select(const FixedColumns& columns) {
  m_columns.borrow(columns);
  return *this;
}
QueryBuilder& QueryBuilder::add_select(Expr column) {
  if (!column.is_raw()) column.m_form = name_form(column.text());
  m_columns.own().push_back(std::move(column));
  return *this;
}

FixedColumns::FixedColumns(std::vector<Expr> columns) : m_columns(std::move(columns)) {
  for (auto& c : m_columns)
    if (!c.is_raw()) c.m_form = name_form(c.text());
}

QueryBuilder& QueryBuilder::distinct(bool on) {
  m_distinct = on;
  return *this;
}

QueryBuilder& QueryBuilder::add_condition(Condition c) {
  if (c.kind != Condition::Kind::raw && c.kind != Condition::Kind::group) c.form = name_form(c.column);
  m_wheres.push_back(std::move(c));
  return *this;
}

QueryBuilder& QueryBuilder::where(std::string_view column, Value value) { return where(column, "=", std::move(value)); }
QueryBuilder& QueryBuilder::where(std::string_view column, std::string_view op, Value value) {
  const NameForm form = name_form(column);
  const std::string_view o = normalize_op(op);
  Condition& c = m_wheres.emplace_back();  // built in place: no Condition moves
  c.form = form;
  c.column = column;
  c.op = o;
  if (value.is_null() && (o == "=" || o == "<>")) {
    // "= NULL" is never true in SQL; say what was meant.
    c.kind = o == "=" ? Condition::Kind::null : Condition::Kind::not_null;
  } else {
    c.value = std::move(value);
  }
  return *this;
}
QueryBuilder& QueryBuilder::or_where(std::string_view column, Value value) {
  return or_where(column, "=", std::move(value));
}
QueryBuilder& QueryBuilder::or_where(std::string_view column, std::string_view op, Value value) {
  where(column, op, std::move(value));
  m_wheres.back().use_or = true;
  return *this;
}
QueryBuilder& QueryBuilder::where(const std::function<void(QueryBuilder&)>& group) {
  auto nested = std::make_shared<QueryBuilder>(m_table);
  group(*nested);
  Condition c;
  c.kind = Condition::Kind::group;
  c.nested = std::move(nested);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::or_where(const std::function<void(QueryBuilder&)>& group) {
  where(group);
  m_wheres.back().use_or = true;
  return *this;
}
QueryBuilder& QueryBuilder::where_in(std::string_view column, std::vector<Value> values) {
  Condition c;
  c.kind = Condition::Kind::in;
  c.column = column;
  c.values = std::move(values);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::or_where_in(std::string_view column, std::vector<Value> values) {
  where_in(column, std::move(values));
  m_wheres.back().use_or = true;
  return *this;
}
QueryBuilder& QueryBuilder::where_in(std::string_view column, const QueryBuilder& subquery) {
  Condition c;
  c.kind = Condition::Kind::in_sub;
  c.column = column;
  c.nested = std::make_shared<QueryBuilder>(subquery);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::where_not_in(std::string_view column, std::vector<Value> values) {
  where_in(column, std::move(values));
  m_wheres.back().kind = Condition::Kind::not_in;
  return *this;
}
QueryBuilder& QueryBuilder::where_not_in(std::string_view column, const QueryBuilder& subquery) {
  where_in(column, subquery);
  m_wheres.back().kind = Condition::Kind::not_in_sub;
  return *this;
}
QueryBuilder& QueryBuilder::where_null(std::string_view column) {
  Condition c;
  c.kind = Condition::Kind::null;
  c.column = column;
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::or_where_null(std::string_view column) {
  where_null(column);
  m_wheres.back().use_or = true;
  return *this;
}
QueryBuilder& QueryBuilder::where_not_null(std::string_view column) {
  where_null(column);
  m_wheres.back().kind = Condition::Kind::not_null;
  return *this;
}
QueryBuilder& QueryBuilder::where_between(std::string_view column, Value low, Value high) {
  Condition c;
  c.kind = Condition::Kind::between;
  c.column = column;
  c.values = {std::move(low), std::move(high)};
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::where_not_between(std::string_view column, Value low, Value high) {
  where_between(column, std::move(low), std::move(high));
  m_wheres.back().kind = Condition::Kind::not_between;
  return *this;
}
QueryBuilder& QueryBuilder::where_raw(std::string sql, std::vector<Value> bindings) {
  Condition c;
  c.kind = Condition::Kind::raw;
  c.raw_sql = std::move(sql);
  c.values = std::move(bindings);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::or_where_raw(std::string sql, std::vector<Value> bindings) {
  where_raw(std::move(sql), std::move(bindings));
  m_wheres.back().use_or = true;
  return *this;
}

QueryBuilder& QueryBuilder::add_join(std::string type, std::string_view table, std::string_view first,
                                     std::string_view op, std::string_view second) {
  check_name(table);
  const bool cross = type == "CROSS JOIN";
  if (!cross) {  // an ON clause needs both sides, each a valid name
    check_name(first);
    check_name(second);
  }
  std::string o = cross ? std::string() : std::string(normalize_op(op));
  m_joins.push_back(Join{std::move(type), std::string(table), std::string(first), o, std::string(second)});
  return *this;
}
QueryBuilder& QueryBuilder::join(std::string_view t, std::string_view a, std::string_view op, std::string_view b) {
  return add_join("INNER JOIN", t, a, op, b);
}
QueryBuilder& QueryBuilder::left_join(std::string_view t, std::string_view a, std::string_view op, std::string_view b) {
  return add_join("LEFT JOIN", t, a, op, b);
}
QueryBuilder& QueryBuilder::right_join(std::string_view t, std::string_view a, std::string_view op, std::string_view b) {
  return add_join("RIGHT JOIN", t, a, op, b);
}
QueryBuilder& QueryBuilder::cross_join(std::string_view t) { return add_join("CROSS JOIN", t, {}, {}, {}); }

QueryBuilder& QueryBuilder::group_by(std::initializer_list<std::string_view> columns) {
  for (auto c : columns) {
    check_name(c);
    m_groups.emplace_back(c);
  }
  return *this;
}
QueryBuilder& QueryBuilder::having(std::string_view column, std::string_view op, Value value) {
  check_name(column);
  Condition c;
  c.column = column;
  c.op = normalize_op(op);
  c.value = std::move(value);
  m_havings.push_back(std::move(c));
  return *this;
}
QueryBuilder& QueryBuilder::having_raw(std::string sql, std::vector<Value> bindings) {
  Condition c;
  c.kind = Condition::Kind::raw;
  c.raw_sql = std::move(sql);
  c.values = std::move(bindings);
  m_havings.push_back(std::move(c));
  return *this;
}
QueryBuilder& QueryBuilder::order_by(std::string_view column, std::string_view direction) {
  check_name(column);
  std::string d;
  for (char ch : direction) d += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (d != "asc" && d != "desc")
    throw UsageError("order direction must be \"asc\" or \"desc\", got '" + std::string(direction.substr(0, 40)) + "'");
  m_orders.push_back(Order{std::string(column), d == "desc", {}, {}});
  return *this;
}
QueryBuilder& QueryBuilder::order_by_raw(std::string sql, std::vector<Value> bindings) {
  m_orders.push_back(Order{{}, false, std::move(sql), std::move(bindings)});
  return *this;
}
QueryBuilder& QueryBuilder::limit(std::uint64_t n) {
  m_limit = n;
  return *this;
}
QueryBuilder& QueryBuilder::offset(std::uint64_t n) {
  m_offset = n;
  return *this;
}
QueryBuilder& QueryBuilder::reorder() {
  m_orders.clear();
  m_limit.reset();
  m_offset.reset();
  return *this;
}

// ---- compiling --------------------------------------------------------------

void QueryBuilder::compile_where(Compiler& c, const Conditions& conds) const {
  bool first = true;
  for (const auto& w : conds) {
    if (!first) c.sql() += w.use_or ? " OR "sv : " AND "sv;
    first = false;
    switch (w.kind) {
      case Condition::Kind::basic:
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
      case Condition::Kind::in:
      case Condition::Kind::not_in:
        if (w.values.empty()) {  // IN () is invalid SQL: say what it means
          c.sql() += w.kind == Condition::Kind::in ? "1 = 0"sv : "1 = 1"sv;
          break;
        }
        c.ident(w.column, w.form);
        c.sql() += w.kind == Condition::Kind::in ? " IN ("sv : " NOT IN ("sv;
        for (std::size_t i = 0; i < w.values.size(); ++i) {
          if (i) c.sql() += ", "sv;
          c.bind(w.values[i]);
        }
        c.sql() += ')';
        break;
      case Condition::Kind::in_sub:
      case Condition::Kind::not_in_sub: {
        c.ident(w.column, w.form);
        c.sql() += w.kind == Condition::Kind::in_sub ? " IN ("sv : " NOT IN ("sv;
        w.nested->compile_select(c);
        c.sql() += ')';
        break;
      }
      case Condition::Kind::null:
      case Condition::Kind::not_null:
        c.ident(w.column, w.form);
        c.sql() += w.kind == Condition::Kind::null ? " IS NULL"sv : " IS NOT NULL"sv;
        break;
      case Condition::Kind::between:
      case Condition::Kind::not_between:
        c.ident(w.column, w.form);
        c.sql() += w.kind == Condition::Kind::between ? " BETWEEN "sv : " NOT BETWEEN "sv;
        c.bind(w.values[0]);
        c.sql() += " AND "sv;
        c.bind(w.values[1]);
        break;
      case Condition::Kind::raw:
        c.sql() += '(';
        c.raw(w.raw_sql, w.values);
        c.sql() += ')';
        break;
      case Condition::Kind::group:
        if (w.nested->m_wheres.empty()) {
          c.sql() += "1 = 1"sv;
          break;
        }
        c.sql() += '(';
        compile_where(c, w.nested->m_wheres);
        c.sql() += ')';
        break;
    }
  }
}

void QueryBuilder::compile_from(Compiler& c) const {
  c.sql() += " FROM "sv;
  c.ident(m_table, m_table_form);
  for (const auto& j : m_joins) {
    c.sql() += ' ' + j.type + ' ';
    c.ident(j.table);
    if (!j.first.empty()) {
      c.sql() += " ON "sv;
      c.ident(j.first);
      c.sql() += ' ' + j.op + ' ';
      c.ident(j.second);
    }
  }
  if (!m_wheres.empty()) {
    c.sql() += " WHERE "sv;
    compile_where(c, m_wheres);
  }
}

void QueryBuilder::compile_select(Compiler& c) const {
  c.sql() += m_distinct ? "SELECT DISTINCT "sv : "SELECT "sv;
  if (m_columns.empty()) c.sql() += '*';
  for (std::size_t i = 0; i < m_columns.size(); ++i) {
    if (i) c.sql() += ", "sv;
    if (m_columns[i].is_raw()) c.raw(m_columns[i].text(), m_columns[i].bindings());
    else c.ident(m_columns[i].text(), m_columns[i].m_form);
  }
  compile_from(c);
  if (!m_groups.empty()) {
    c.sql() += " GROUP BY "sv;
    for (std::size_t i = 0; i < m_groups.size(); ++i) {
      if (i) c.sql() += ", "sv;
      c.ident(m_groups[i]);
    }
  }
  if (!m_havings.empty()) {
    c.sql() += " HAVING "sv;
    compile_where(c, m_havings);
  }
  if (!m_orders.empty()) {
    c.sql() += " ORDER BY "sv;
    for (std::size_t i = 0; i < m_orders.size(); ++i) {
      if (i) c.sql() += ", "sv;
      if (m_orders[i].column.empty()) {
        c.raw(m_orders[i].raw_sql, m_orders[i].raw_bindings);
      } else {
        c.ident(m_orders[i].column);
        c.sql() += m_orders[i].desc ? " DESC"sv : " ASC"sv;
      }
    }
  }
  c.grammar.limit_offset(c.sql(), m_limit, m_offset);
}

const Grammar& QueryBuilder::grammar() const { return require_target("compile").grammar(); }

Query QueryBuilder::to_sql() const { return to_sql(grammar()); }

Query QueryBuilder::to_sql(const Grammar& g) const {
  Compiler c(g);
  compile_select(c);
  return std::move(c.q);
}

namespace {
/// SELECT text by builder shape, per thread (no lock): a builder run on every
/// request compiles once per shape and dialect, later runs look the text up.
/// The key is everything the text depends on, compared whole, never a hash alone.
struct ShapeCache {
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, eight bytes at a step
      std::size_t i = 0;
      for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
      }
      for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 0x100000001b3ULL;
      return static_cast<std::size_t>(h ^ (h >> 29));
    }
  };
  static constexpr std::size_t max_shapes = 1024;  // a program with more starts over rather than grow without end
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> sql;
};
thread_local ShapeCache t_shapes;
}  // namespace

/// A shape key being written into fixed storage (a shape too long for it is not cached).
class QueryBuilder::ShapeKey {
 public:
  void put(char c) noexcept {
    if (m_size < sizeof m_buf) m_buf[m_size++] = c;
    else m_full = true;
  }
  void put(std::string_view name) noexcept {
    const auto n = static_cast<std::uint32_t>(name.size());
    if (m_size + sizeof n + name.size() > sizeof m_buf || name.size() > 0xffff) {
      m_full = true;
      return;
    }
    std::memcpy(m_buf + m_size, &n, sizeof n);
    std::memcpy(m_buf + m_size + sizeof n, name.data(), name.size());
    m_size += sizeof n + name.size();
  }
  void put_number(char tag, std::optional<std::uint64_t> n) noexcept {
    if (!n) return;
    put(tag);
    put(std::string_view(reinterpret_cast<const char*>(&*n), sizeof *n));
  }
  [[nodiscard]] bool full() const noexcept { return m_full; }
  [[nodiscard]] std::string_view view() const noexcept { return {m_buf, m_size}; }

 private:
  char m_buf[480];
  std::size_t m_size = 0;
  bool m_full = false;
};

bool QueryBuilder::shape(ShapeKey& key, std::vector<Value>& values) const {
  if (!m_joins.empty() || !m_groups.empty() || !m_havings.empty()) return false;
  key.put(m_table);
  key.put(m_distinct ? 'D' : 'S');
  for (const Expr& e : m_columns) {
    if (e.is_raw()) return false;
    key.put('c');
    key.put(e.text());
  }
  using K = Condition::Kind;
  for (const Condition& w : m_wheres) {
    key.put('w');
    key.put(static_cast<char>(static_cast<int>(w.kind) * 2 + (w.use_or ? 1 : 0)));
    switch (w.kind) {
      case K::basic:
        key.put(w.op);
        key.put(w.column);
        values.push_back(w.value);
        break;
      case K::in:
      case K::not_in:
        key.put(w.column);
        key.put_number('n', w.values.size());
        values.insert(values.end(), w.values.begin(), w.values.end());
        break;
      case K::null:
      case K::not_null:
        key.put(w.column);
        break;
      case K::between:
      case K::not_between:
        key.put(w.column);
        values.push_back(w.values[0]);
        values.push_back(w.values[1]);
        break;
      case K::in_sub:
      case K::not_in_sub:
      case K::raw:
      case K::group:
        return false;
    }
  }
  for (const Order& o : m_orders) {
    if (o.column.empty()) return false;  // raw
    key.put(o.desc ? 'd' : 'a');
    key.put(o.column);
  }
  key.put_number('L', m_limit);
  key.put_number('F', m_offset);
  return !key.full();
}

const Query& QueryBuilder::call_sql(const Grammar& g, detail::CallSql& into) const {
  Query& q = into.query();
  ShapeKey key;
  key.put(static_cast<char>(g.slot()));
  const bool cached = shape(key, q.bindings);
  if (cached) {
    if (auto it = t_shapes.sql.find(key.view()); it != t_shapes.sql.end()) {
      q.sql.assign(it->second);
      return q;
    }
  }
  const std::size_t walked = q.bindings.size();
  q.bindings.clear();
  Compiler c(g, q);
  compile_select(c);
  if (cached) {
    // The shape's values must be the compiled statement's, in its order
    // (tests compare both on generated builders); refuse rather than run another binding.
    if (q.bindings.size() != walked)
      throw std::logic_error("plexus: a builder's shape binds " + std::to_string(walked) + " value(s), its SQL " +
                             std::to_string(q.bindings.size()) + ": " + q.sql);
    if (t_shapes.sql.size() >= ShapeCache::max_shapes) t_shapes.sql.clear();
    t_shapes.sql.emplace(std::string(key.view()), q.sql);
  }
  return q;
}

Query QueryBuilder::insert_sql(const Grammar& g, const std::vector<Fields>& rows,
                               std::span<const std::string> returning) const {
  if (rows.empty() || rows.front().empty()) throw UsageError("insert into '" + m_table + "' needs at least one column");
  const Fields& head = rows.front();
  for (const auto& [col, v] : head) check_name(col);
  Compiler c(g);
  c.sql() += "INSERT INTO "sv;
  c.ident(m_table);
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
      throw UsageError("insert into '" + m_table + "': row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                       " columns, the first has " + std::to_string(head.size()));
    c.sql() += r ? ", ("sv : "("sv;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (row[i].first != head[i].first)
        throw UsageError("insert into '" + m_table + "': row " + std::to_string(r) + " has column '" + row[i].first +
                         "' where the first row has '" + head[i].first + "'");
      if (i) c.sql() += ", "sv;
      c.bind(row[i].second);
    }
    c.sql() += ')';
  }
  if (!returning.empty()) {
    if (!g.supports_returning())
      throw UsageError(std::string(g.name()) + " has no INSERT … RETURNING; use insert_get_id()");
    c.sql() += " RETURNING "sv;
    for (std::size_t i = 0; i < returning.size(); ++i) {
      if (i) c.sql() += ", "sv;
      c.ident(returning[i]);
    }
  }
  return std::move(c.q);
}

void QueryBuilder::require_where(std::string_view what) const {
  if (!m_wheres.empty() || m_all_rows) return;
  throw UsageError(std::string(what) + " of '" + m_table +
                   "' has no where(): it would change every row. Add a where(), or call all_rows() first to say "
                   "that every row is meant");
}

QueryBuilder& QueryBuilder::all_rows() {
  m_all_rows = true;
  return *this;
}

Query QueryBuilder::update_sql(const Grammar& g, const Fields& fields) const {
  if (fields.empty()) throw UsageError("update of '" + m_table + "' needs at least one column");
  require_where("update");
  Compiler c(g);
  c.sql() += "UPDATE "sv;
  c.ident(m_table);
  c.sql() += " SET "sv;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) c.sql() += ", "sv;
    check_name(fields[i].first);
    c.ident(fields[i].first);
    c.sql() += " = "sv;
    c.bind(fields[i].second);
  }
  if (!m_wheres.empty()) {
    c.sql() += " WHERE "sv;
    compile_where(c, m_wheres);
  }
  return std::move(c.q);
}

Query QueryBuilder::delete_sql(const Grammar& g) const {
  require_where("delete");
  Compiler c(g);
  c.sql() += "DELETE FROM "sv;
  c.ident(m_table);
  if (!m_wheres.empty()) {
    c.sql() += " WHERE "sv;
    compile_where(c, m_wheres);
  }
  return std::move(c.q);
}

Query QueryBuilder::upsert_sql(const Grammar& g, const std::vector<Fields>& rows, std::span<const std::string> unique_by,
                               std::span<const std::string> update) const {
  if (unique_by.empty()) throw UsageError("upsert into '" + m_table + "' needs the unique column(s) to match on");
  for (const auto& u : unique_by) check_name(u);
  for (const auto& u : update) check_name(u);
  Query q = insert_sql(g, rows);
  g.upsert_tail(q.sql, unique_by, update);
  return q;
}

Query QueryBuilder::aggregate_sql(const Grammar& g, std::string_view function, std::string_view column) const {
  if (column != "*") check_name(column);
  Compiler c(g);
  auto call = [&](Compiler& cc) {
    cc.sql() += "SELECT "sv;
    cc.sql() += function;
    cc.sql() += '(';
    if (column == "*"sv) cc.sql() += '*';
    else cc.ident(column);
    cc.sql() += ") AS "sv;
    g.quote(cc.sql(), "aggregate");
  };
  if (!m_groups.empty() || m_distinct || m_limit || m_offset) {
    // Aggregate over the rows the query returns, not over the groups' rows.
    call(c);
    c.sql() += " FROM ("sv;
    QueryBuilder inner = *this;
    if (inner.m_columns.empty() && !m_groups.empty())  // SELECT * is invalid with GROUP BY on most engines
      inner.m_columns.own().assign(m_groups.begin(), m_groups.end());
    inner.compile_select(c);
    c.sql() += ") AS "sv;
    g.quote(c.sql(), "plexus_sub");
    return std::move(c.q);
  }
  call(c);
  compile_from(c);
  return std::move(c.q);
}

// ---- running ----------------------------------------------------------------

Queryable& QueryBuilder::require_target(std::string_view what) const {
  if (!m_target)
    throw UsageError("this query builder for '" + m_table + "' is not bound to a connection, so it cannot " +
                     std::string(what) + "; create it with db.table(\"" + m_table +
                     "\", \"connection\") or conn.table(\"" + m_table + "\"), or pass a dialect to to_sql()");
  return *m_target;
}

std::pair<Queryable*, BuilderRunner*> QueryBuilder::route(std::string_view what) const {
  Queryable& t = require_target(what);
  BuilderRunner* runner = t.builder_runner();
  if (!runner) [[likely]] return {&t, nullptr};
  if (Queryable* one = runner->single(*this)) return {one, nullptr};
  return {nullptr, runner};
}

QueryBuilder QueryBuilder::on(Queryable& t) const {
  QueryBuilder b = *this;
  b.m_keep.reset();
  b.m_target = &t;
  return b;
}

Result QueryBuilder::get() {
  auto [t, scatter] = route("run");
  if (scatter) return scatter->get(*this);
  detail::CallSql call;
  const Query& q = call_sql(t->grammar(), call);
  return t->select(q.sql, q.bindings);
}

const Query& QueryBuilder::first_sql(const Grammar& g, detail::CallSql& into) {
  // LIMIT 1 set in place and restored, not on a copy of the builder.
  const auto saved = m_limit;
  m_limit = 1;
  try {
    (void)call_sql(g, into);
  } catch (...) {
    m_limit = saved;
    throw;
  }
  m_limit = saved;
  return into.query();
}

std::optional<Record> QueryBuilder::first() {
  auto [t, scatter] = route("run");
  Result r;
  if (scatter) {
    QueryBuilder one = *this;
    r = scatter->get(one.limit(1));
  } else {
    detail::CallSql call;
    const Query& q = first_sql(t->grammar(), call);
    r = t->select(q.sql, q.bindings);
  }
  if (r.empty()) return std::nullopt;
  return Record(std::move(r));
}

std::uint64_t QueryBuilder::each_row(const RowVisitor& visit, bool first_only) {
  auto [t, scatter] = route("run");
  if (scatter) {
    std::optional<QueryBuilder> one;
    if (first_only) one.emplace(*this).limit(1);
    const Result r = scatter->get(one ? *one : *this);
    std::uint64_t n = 0;
    for (Row row : r)
      if (++n, !visit(row)) break;
    return n;
  }
  detail::CallSql call;
  const Query& q = first_only ? first_sql(t->grammar(), call) : call_sql(t->grammar(), call);
  auto pass = [&visit](Row row) { return visit(row); };
  return t->select_each(q.sql, q.bindings, pass);
}

PreparedQuery QueryBuilder::prepare() const {
  auto [one_target, scatter] = route("be prepared");
  if (scatter)
    throw UsageError("a query on '" + m_table + "' across a shard group cannot be prepared (each run plans and merges "
                     "anew); run it with get(), or prepare it on one member");
  auto& t = *one_target;
  const Grammar& g = t.grammar();
  QueryBuilder one = *this;
  one.limit(1);
  return PreparedQuery(t, m_keep, to_sql(g), one.to_sql(g));
}

std::span<const Value> PreparedQuery::bind(const Params& values) const {
  auto given = values.span();
  if (given.empty()) return m_all.bindings;
  if (given.size() != m_all.bindings.size())
    throw UsageError("this prepared query binds " + std::to_string(m_all.bindings.size()) + " value(s) but " +
                     std::to_string(given.size()) + " were given: " + m_all.sql);
  return given;
}

Result PreparedQuery::get(Params values) { return m_target->select(m_all.sql, bind(values)); }

std::optional<Record> PreparedQuery::first(Params values) {
  Result r = m_target->select(m_first.sql, bind(values));
  if (r.empty()) return std::nullopt;
  return Record(std::move(r));
}

Value QueryBuilder::value(std::string_view column) {
  QueryBuilder one = *this;
  one.select({Expr(column)}).limit(1);
  Result r = one.get();
  return r.empty() ? Value() : r[0][0];
}

Cursor QueryBuilder::cursor() {
  auto [t, scatter] = route("run");
  if (scatter) return scatter->cursor(*this);
  Query q = to_sql(t->grammar());
  return t->cursor(q.sql, q.bindings);
}

Value QueryBuilder::aggregate(std::string_view function, std::string_view column) {
  auto [t, scatter] = route("run");
  if (scatter) {
    if (column != "*") check_name(column);
    if (!m_groups.empty() || m_distinct || m_limit || m_offset) {
      // Over the rows the query returns: count them after the merge.
      if (function == "COUNT" && column == "*") return Value(static_cast<std::int64_t>(scatter->get(*this).size()));
      throw UsageError(std::string(function) + " over a grouped, DISTINCT or limited query across a shard group: "
                       "run get() and compute it from the rows");
    }
    QueryBuilder agg = *this;
    agg.m_columns.own() = {Expr(raw(std::string(function) + "(" + std::string(column) + ") AS aggregate"))};
    agg.m_orders.clear();
    return scatter->get(agg)[0][0];
  }
  Query q = aggregate_sql(t->grammar(), function, column);
  return t->scalar(q.sql, q.bindings);
}

std::int64_t QueryBuilder::count(std::string_view column) { return aggregate("COUNT", column).as<std::int64_t>(); }

bool QueryBuilder::exists() {
  QueryBuilder one = *this;
  one.m_columns.own() = {Expr(raw("1"))};
  one.reorder().limit(1);
  return !one.get().empty();
}

Page QueryBuilder::paginate(std::uint64_t page, std::uint64_t per_page) {
  if (page == 0 || per_page == 0) throw UsageError("paginate: page and per_page start at 1");
  Page p;
  p.page = page;
  p.per_page = per_page;
  QueryBuilder counter = *this;
  p.total = static_cast<std::uint64_t>(counter.reorder().count());
  p.last_page = std::max<std::uint64_t>(1, (p.total + per_page - 1) / per_page);
  QueryBuilder rows = *this;
  p.items = rows.limit(per_page).offset((page - 1) * per_page).get();
  return p;
}

void QueryBuilder::chunk(std::uint64_t size, const std::function<bool(const Result&)>& fn) {
  if (size == 0) throw UsageError("chunk size must be at least 1");
  if (m_orders.empty())
    throw UsageError("chunk() over '" + m_table + "' needs order_by(): without an order, rows may repeat or be skipped");
  for (std::uint64_t off = m_offset.value_or(0);; off += size) {
    QueryBuilder page = *this;
    Result r = page.limit(size).offset(off).get();
    if (r.empty() || !fn(r) || r.size() < size) return;
  }
}

Result QueryBuilder::insert(const Fields& row) {
  if (auto* runner = require_target("insert").builder_runner()) return on(runner->owner(*this, row)).insert(row);
  auto& t = require_target("insert");
  Query q = insert_sql(t.grammar(), {row});
  return t.execute(q.sql, q.bindings);
}

std::int64_t QueryBuilder::insert_get_id(const Fields& row, std::string_view id_column) {
  if (auto* runner = require_target("insert").builder_runner())
    return on(runner->owner(*this, row)).insert_get_id(row, id_column);
  auto& t = require_target("insert");
  const Grammar& g = t.grammar();
  if (g.supports_returning()) {
    std::string id(id_column);
    Query q = insert_sql(g, {row}, std::span<const std::string>(&id, 1));
    // The same statement without its RETURNING tail, for sessions that read
    // the key as the row id (names are quoted, so the last " RETURNING " is the tail).
    const std::string_view plain = std::string_view(q.sql).substr(0, q.sql.rfind(" RETURNING "));
    Result r = t.insert_returning_key(KeyedInsert{m_table, id_column, q.sql, plain}, q.bindings);
    return r[0][0].as<std::int64_t>();
  }
  Query q = insert_sql(g, {row});
  auto r = t.execute(q.sql, q.bindings);
  if (!r.last_insert_id())
    throw UsageError("the engine reported no generated id for the insert into '" + m_table + "'");
  return *r.last_insert_id();
}

/// Rows split by the member a runner places each on, in their order.
static std::vector<std::pair<Queryable*, std::vector<Fields>>> by_owner(BuilderRunner& runner, const QueryBuilder& q,
                                                                         const std::vector<Fields>& rows) {
  std::vector<std::pair<Queryable*, std::vector<Fields>>> parts;
  for (const auto& row : rows) {
    Queryable* owner = &runner.owner(q, row);
    auto it = std::find_if(parts.begin(), parts.end(), [&](const auto& p) { return p.first == owner; });
    if (it == parts.end()) it = parts.insert(parts.end(), {owner, {}});
    it->second.push_back(row);
  }
  return parts;
}

std::uint64_t QueryBuilder::insert_many(const std::vector<Fields>& rows) {
  if (rows.empty()) return 0;
  if (auto* runner = require_target("insert").builder_runner()) {
    // Each member's rows atomically there; for all or none across members use db.transaction.
    std::uint64_t n = 0;
    for (auto& [owner, part] : by_owner(*runner, *this, rows)) n += on(*owner).insert_many(part);
    return n;
  }
  auto& t = require_target("insert");
  const Grammar& g = t.grammar();
  const std::size_t cols = std::max<std::size_t>(1, rows.front().size());
  const std::size_t per_statement = std::clamp<std::size_t>(g.max_parameters() / cols, 1, 1000);
  if (rows.size() <= per_statement) {
    Query q = insert_sql(g, rows);
    t.execute(q.sql, q.bindings);
    return rows.size();
  }
  // Several statements: all or nothing.
  t.atomically([&](Queryable& tx) {
    std::vector<Fields> batch;
    for (std::size_t start = 0; start < rows.size(); start += per_statement) {
      auto end = std::min(rows.size(), start + per_statement);
      batch.assign(rows.begin() + static_cast<std::ptrdiff_t>(start), rows.begin() + static_cast<std::ptrdiff_t>(end));
      Query q = insert_sql(g, batch);
      tx.execute(q.sql, q.bindings);
    }
  });
  return rows.size();
}

std::uint64_t QueryBuilder::update(const Fields& fields) {
  if (auto* runner = require_target("update").builder_runner()) {
    std::uint64_t n = 0;
    for (Queryable* w : runner->writers(*this, &fields, "update")) n += on(*w).update(fields);
    return n;
  }
  auto& t = require_target("update");
  Query q = update_sql(t.grammar(), fields);
  return t.execute(q.sql, q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::increment(std::string_view column, std::int64_t by, const Fields& also) {
  if (auto* runner = require_target("update").builder_runner()) {
    Fields set = also;
    set.emplace_back(std::string(column), Value());
    std::uint64_t n = 0;
    for (Queryable* w : runner->writers(*this, &set, "increment")) n += on(*w).increment(column, by, also);
    return n;
  }
  auto& t = require_target("update");
  require_where("increment");
  check_name(column);
  const Grammar& g = t.grammar();
  Compiler c(g);
  c.sql() += "UPDATE "sv;
  c.ident(m_table);
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
  if (!m_wheres.empty()) {
    c.sql() += " WHERE "sv;
    compile_where(c, m_wheres);
  }
  return t.execute(c.q.sql, c.q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::remove() {
  if (auto* runner = require_target("delete").builder_runner()) {
    std::uint64_t n = 0;
    for (Queryable* w : runner->writers(*this, nullptr, "delete")) n += on(*w).remove();
    return n;
  }
  auto& t = require_target("delete");
  Query q = delete_sql(t.grammar());
  return t.execute(q.sql, q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::upsert(const std::vector<Fields>& rows, std::vector<std::string> unique_by,
                                   std::vector<std::string> update) {
  if (auto* runner = require_target("upsert").builder_runner()) {
    std::uint64_t n = 0;
    for (auto& [owner, part] : by_owner(*runner, *this, rows)) n += on(*owner).upsert(part, unique_by, update);
    return n;
  }
  auto& t = require_target("upsert");
  Query q = upsert_sql(t.grammar(), rows, unique_by, update);
  return t.execute(q.sql, q.bindings).affected_rows();
}

}  // namespace plexus

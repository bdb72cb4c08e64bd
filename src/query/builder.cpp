// The fluent calls: each checks its names and records itself in the recording
// (recording.hpp) or, for what the recording cannot take, fills the spec.
#include "plexus/query/builder.hpp"

#include <atomic>
#include <cctype>

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"
#include "query/recording.hpp"

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

/// The plain table name the last builder on this thread checked: a builder
/// for the same table (the usual case, a call site run per request) compares
/// its name with it instead of checking it character by character.
struct LastTable {
  std::size_t size = 0;  ///< 0: none yet
  char name[56] = {};
};
constinit thread_local LastTable t_last_table;
}  // namespace

QueryBuilder::QueryBuilder(std::string table) : m_table(std::move(table)) {
  record_table(table_view(), true);
}
QueryBuilder::QueryBuilder(Queryable& target, std::string_view table) : m_target(&target) {
  record_table(table, false);
}

QueryBuilder::QueryBuilder(Queryable& target, const FixedTable& table) : m_target(&target), m_table(table) {
  record_table(table.form());
}

FixedTable::FixedTable(std::string name) : m_name(std::move(name)), m_form(name_form(m_name)) {}

QueryBuilder::QueryBuilder(std::shared_ptr<Queryable> target, std::string table)
    : m_keep(std::move(target)), m_target(m_keep.get()), m_table(std::move(table)) {
  record_table(table_view(), true);
}

QueryBuilder::QueryBuilder(Queryable& target, const FixedTable& table, const FixedColumns& columns)
    : m_target(&target), m_table(table) {
  // Both entries at once, as record_table() and select() write them, when
  // both were checked plain when made and the target runs statements.
  const std::size_t n = table.name().size();
  if (table.form() == NameForm::plain && columns.plain() &&
      table_entry_size(n) + k_fixed_entry_size <= Recording::capacity && !target.planning_target()) {
    char* at = m_recording.grow(table_entry_size(n) + k_fixed_entry_size);
    write_fixed_entry(write_table_entry(at, table.name()), columns);
    m_table_form = NameForm::plain;
    return;
  }
  record_table(table.form());
  select(columns);
}

[[gnu::always_inline]] inline void QueryBuilder::record_table(std::string_view name, bool owned) {
  // A target that runs builders itself (a shard group) plans from the parts:
  // they are built from the first call rather than replayed at the run.
  if (m_target && m_target->planning_target()) {
    if (!owned) m_table.own(name);
    m_table_form = name_form(table_view());
    materialize();
    return;
  }
  // The table opens the recording (the shape names it); a plain name stays
  // there, read back from it; a name too long for it builds parts.
  const std::size_t n = name.size();
  if (n == t_last_table.size && n != 0 && same_short(name.data(), t_last_table.name, n)) {
    // The name checked last (the recording is empty: it fits).
    (void)write_table_entry(m_recording.grow(table_entry_size(n)), name);
    if (!owned) m_table.in_recording(n);
    m_table_form = NameForm::plain;
    return;
  }
  m_recording.put('T');
  if (m_recording.put_plain(name)) {
    if (n <= sizeof t_last_table.name) {
      std::memcpy(t_last_table.name, name.data(), n);
      t_last_table.size = n;
    }
    if (!owned) m_table.in_recording(n);
    m_table_form = NameForm::plain;
    return;
  }
  if (!owned) m_table.own(name);
  m_table_form = name_form(table_view());  // a bad name is refused here
  if (!record_name(table_view(), 0)) materialize();
}

void QueryBuilder::record_table(NameForm form) {
  // A plain name checked when it was made goes in as it is; anything else as any table does.
  const std::string_view name = table_view();
  if (form != NameForm::plain || !m_recording.room(table_entry_size(name.size())) ||
      (m_target && m_target->planning_target()))
    return record_table(name, true);
  (void)write_table_entry(m_recording.grow(table_entry_size(name.size())), name);
  m_table_form = NameForm::plain;
}

QueryBuilder Queryable::table(std::string_view name) { return QueryBuilder(*this, name); }
QueryBuilder RoutedConnection::table(std::string_view name) const {
  return QueryBuilder(std::make_shared<RoutedConnection>(*this), std::string(name));
}

// ---- building ---------------------------------------------------------------

void QueryBuilder::apply_select(std::span<const std::string_view> names, bool add) const {
  auto& own = m_parts->columns.own();
  if (!add) own.clear();
  for (std::string_view n : names) {
    own.emplace_back(n).check();
  }
}

QueryBuilder& QueryBuilder::select(std::initializer_list<Expr> columns) {
  return select(std::span<const Expr>(columns.begin(), columns.size()));
}
QueryBuilder& QueryBuilder::select(std::initializer_list<const char*> columns) {
  if (columns.size() < 256 && records(2)) {
    // Each name checked as it is copied; the entry taken back when one does not fit.
    const std::size_t mark = m_recording.size();
    m_recording.put('C');
    m_recording.put(static_cast<char>(columns.size()));
    bool recorded = true;
    for (const char* name : columns) {
      if (!name) {  // refused below
        m_recording.drop(m_recording.size() - mark);
        recorded = false;
        break;
      }
      if (!m_recording.put_plain(name) && !record_name(name, mark)) {
        recorded = false;
        break;
      }
    }
    if (recorded) return *this;
  }
  detail::SmallVector<std::string_view, 8> names;
  for (const char* name : columns) {
    if (!name) throw UsageError("select() on '" + table() + "' was given a null column name");
    (void)name_form(names.emplace_back(name));  // a bad name fails here
  }
  parts();
  apply_select(std::span<const std::string_view>(names.data(), names.size()), false);
  return *this;
}
QueryBuilder& QueryBuilder::select(std::span<const Expr> columns) {
  if (columns.size() < 256 && records(2)) {
    const std::size_t mark = m_recording.size();
    m_recording.put('C');
    m_recording.put(static_cast<char>(columns.size()));
    bool recorded = true;
    for (const Expr& c : columns) {
      if (c.is_raw()) {  // bindings among the columns: built as parts
        m_recording.drop(m_recording.size() - mark);
        recorded = false;
        break;
      }
      if (!record_name(c.text(), mark)) {
        recorded = false;
        break;
      }
    }
    if (recorded) return *this;
  }
  for (const Expr& c : columns)
    if (!c.is_raw()) (void)name_form(c.text());  // a bad name fails before anything changes
  auto& own = parts().columns.own();
  own.assign(columns.begin(), columns.end());
  for (auto& c : own)
    c.check();
  return *this;
}
QueryBuilder& QueryBuilder::select(const FixedColumns& columns) {
  if (columns.plain() && records(k_fixed_entry_size)) {
    write_fixed_entry(m_recording.grow(k_fixed_entry_size), columns);
    return *this;
  }
  parts().columns.borrow(columns);
  return *this;
}
QueryBuilder& QueryBuilder::add_select(Expr column) {
  if (!column.is_raw()) {
    if (records(2)) {
      const std::size_t mark = m_recording.size();
      m_recording.put('c');
      if (record_name(column.text(), mark)) return *this;
    }
    column.check();
  }
  parts().columns.own().push_back(std::move(column));
  return *this;
}

FixedColumns::FixedColumns(std::vector<Expr> columns) : m_columns(std::move(columns)) {
  static std::atomic<std::uint64_t> next{1};
  m_serial = next.fetch_add(1, std::memory_order_relaxed);
  for (auto& c : m_columns) {
    if (c.is_raw()) m_plain = false;
    else c.check();
  }
}

QueryBuilder& QueryBuilder::distinct(bool on) {
  if (records(2)) {
    m_recording.put('D');
    m_recording.put(on ? '\1' : '\0');
    return *this;
  }
  parts().distinct = on;
  return *this;
}

QueryBuilder& QueryBuilder::add_condition(Condition c) {
  if (c.kind != Condition::Kind::raw && c.kind != Condition::Kind::group) c.form = name_form(c.column);
  parts().wheres.push_back(std::move(c));
  return *this;
}

void QueryBuilder::apply_basic(std::string_view column, NameForm form, std::string_view op, Value value,
                               bool use_or) const {
  Condition& c = m_parts->wheres.emplace_back();  // built in place: no Condition moves
  c.use_or = use_or;
  c.form = form;
  c.column = column;
  c.op = op;
  if (value.is_null() && (op == "=" || op == "<>")) {
    // "= NULL" is never true in SQL; say what was meant.
    c.kind = op == "=" ? Condition::Kind::null : Condition::Kind::not_null;
  } else {
    c.value = std::move(value);
  }
}
void QueryBuilder::apply_null(std::string_view column, NameForm form, bool negated, bool use_or) const {
  Condition& c = m_parts->wheres.emplace_back();
  c.kind = negated ? Condition::Kind::not_null : Condition::Kind::null;
  c.use_or = use_or;
  c.form = form;
  c.column = column;
}
void QueryBuilder::apply_in(std::string_view column, NameForm form, std::vector<Value> values, bool negated,
                            bool use_or) const {
  Condition& c = m_parts->wheres.emplace_back();
  c.kind = negated ? Condition::Kind::not_in : Condition::Kind::in;
  c.use_or = use_or;
  c.form = form;
  c.column = column;
  c.values = std::move(values);
}
void QueryBuilder::apply_between(std::string_view column, NameForm form, Value low, Value high, bool negated) const {
  Condition& c = m_parts->wheres.emplace_back();
  c.kind = negated ? Condition::Kind::not_between : Condition::Kind::between;
  c.form = form;
  c.column = column;
  c.values = {std::move(low), std::move(high)};
}

QueryBuilder& QueryBuilder::add_basic(std::string_view column, std::string_view op, Value&& value, bool use_or) {
  return add_basic(column, static_cast<std::size_t>(op_index(op)), std::move(value), use_or);
}
QueryBuilder& QueryBuilder::add_basic(std::string_view column, std::size_t op_at, Value&& value, bool use_or) {
  static_assert(k_ops[1] == "<>");
  const bool null = value.is_null() && op_at <= 1;  // "= NULL" is never true: IS NULL is meant
  if (records(3)) {
    const std::size_t mark = m_recording.size();
    // 'N' (IS [NOT] NULL: bit 1 for <>) or 'W' (the operator's index above bit 0); bit 0: OR.
    char* at = m_recording.grow(2);
    at[0] = null ? 'N' : 'W';
    at[1] = static_cast<char>((null ? (op_at == 1 ? 2 : 0) : op_at << 1) | (use_or ? 1 : 0));
    if (record_name(column, mark)) {
      if (!null) m_recording.values.push_back(std::move(value));
      return *this;
    }
  }
  return add_basic_to_parts(column, op_at, std::move(value), use_or);
}
[[gnu::noinline]] QueryBuilder& QueryBuilder::add_basic_to_parts(std::string_view column, std::size_t op_at,
                                                                 Value&& value, bool use_or) {
  const NameForm form = name_form(column);
  parts();
  apply_basic(column, form, k_ops[op_at], std::move(value), use_or);
  return *this;
}
QueryBuilder& QueryBuilder::add_null(std::string_view column, bool negated, bool use_or) {
  if (records(3)) {
    const std::size_t mark = m_recording.size();
    m_recording.put('N');
    m_recording.put(static_cast<char>((negated ? 2 : 0) | (use_or ? 1 : 0)));
    if (record_name(column, mark)) return *this;
  }
  const NameForm form = name_form(column);
  parts();
  apply_null(column, form, negated, use_or);
  return *this;
}
QueryBuilder& QueryBuilder::add_in(std::string_view column, std::vector<Value>&& values, bool negated, bool use_or) {
  if (records(3 + sizeof(std::uint64_t))) {
    const std::size_t mark = m_recording.size();
    m_recording.put('I');
    m_recording.put(static_cast<char>((negated ? 2 : 0) | (use_or ? 1 : 0)));
    m_recording.put_number(values.size());
    if (record_name(column, mark)) {
      for (Value& v : values) m_recording.values.push_back(std::move(v));
      return *this;
    }
  }
  const NameForm form = name_form(column);
  parts();
  apply_in(column, form, std::move(values), negated, use_or);
  return *this;
}
QueryBuilder& QueryBuilder::add_between(std::string_view column, Value&& low, Value&& high, bool negated) {
  if (records(3)) {
    const std::size_t mark = m_recording.size();
    m_recording.put('B');
    m_recording.put(negated ? '\2' : '\0');
    if (record_name(column, mark)) {
      m_recording.values.push_back(std::move(low));
      m_recording.values.push_back(std::move(high));
      return *this;
    }
  }
  const NameForm form = name_form(column);
  parts();
  apply_between(column, form, std::move(low), std::move(high), negated);
  return *this;
}

QueryBuilder& QueryBuilder::where(std::string_view column, std::string_view op, Value value) {
  return add_basic(column, normalize_op(op), std::move(value), false);
}
QueryBuilder& QueryBuilder::or_where(std::string_view column, Value value) {
  return add_basic(column, 0, std::move(value), true);
}
QueryBuilder& QueryBuilder::or_where(std::string_view column, std::string_view op, Value value) {
  return add_basic(column, normalize_op(op), std::move(value), true);
}
QueryBuilder& QueryBuilder::where(const std::function<void(QueryBuilder&)>& group) {
  auto nested = std::make_shared<QueryBuilder>(table());
  group(*nested);
  nested->materialize();  // read as parts by the compiler and the planner
  Condition c;
  c.kind = Condition::Kind::group;
  c.nested = std::move(nested);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::or_where(const std::function<void(QueryBuilder&)>& group) {
  where(group);
  m_parts->wheres.back().use_or = true;
  return *this;
}
QueryBuilder& QueryBuilder::where_in(std::string_view column, std::vector<Value> values) {
  return add_in(column, std::move(values), false, false);
}
QueryBuilder& QueryBuilder::or_where_in(std::string_view column, std::vector<Value> values) {
  return add_in(column, std::move(values), false, true);
}
QueryBuilder& QueryBuilder::where_not_in(std::string_view column, std::vector<Value> values) {
  return add_in(column, std::move(values), true, false);
}
QueryBuilder& QueryBuilder::where_in(std::string_view column, const QueryBuilder& subquery) {
  Condition c;
  c.kind = Condition::Kind::in_sub;
  c.column = column;
  auto sub = std::make_shared<QueryBuilder>(subquery);
  sub->materialize();
  c.nested = std::move(sub);
  return add_condition(std::move(c));
}
QueryBuilder& QueryBuilder::where_not_in(std::string_view column, const QueryBuilder& subquery) {
  where_in(column, subquery);
  m_parts->wheres.back().kind = Condition::Kind::not_in_sub;
  return *this;
}
QueryBuilder& QueryBuilder::where_null(std::string_view column) { return add_null(column, false, false); }
QueryBuilder& QueryBuilder::or_where_null(std::string_view column) { return add_null(column, false, true); }
QueryBuilder& QueryBuilder::where_not_null(std::string_view column) { return add_null(column, true, false); }
QueryBuilder& QueryBuilder::where_between(std::string_view column, Value low, Value high) {
  return add_between(column, std::move(low), std::move(high), false);
}
QueryBuilder& QueryBuilder::where_not_between(std::string_view column, Value low, Value high) {
  return add_between(column, std::move(low), std::move(high), true);
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
  m_parts->wheres.back().use_or = true;
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
  parts().joins.push_back(QuerySpec::Join{std::move(type), std::string(table), std::string(first), o, std::string(second)});
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
  for (auto c : columns) check_name(c);
  auto& groups = parts().groups;
  for (auto c : columns) groups.emplace_back(c);
  return *this;
}
QueryBuilder& QueryBuilder::having(std::string_view column, std::string_view op, Value value) {
  check_name(column);
  Condition c;
  c.column = column;
  c.op = normalize_op(op);
  c.value = std::move(value);
  parts().havings.push_back(std::move(c));
  return *this;
}
QueryBuilder& QueryBuilder::having_raw(std::string sql, std::vector<Value> bindings) {
  Condition c;
  c.kind = Condition::Kind::raw;
  c.raw_sql = std::move(sql);
  c.values = std::move(bindings);
  parts().havings.push_back(std::move(c));
  return *this;
}
void QueryBuilder::apply_order(std::string_view column, bool desc) const {
  m_parts->orders.push_back(QuerySpec::Order{std::string(column), desc, {}, {}});
}
QueryBuilder& QueryBuilder::order_by(std::string_view column, std::string_view direction) {
  check_name(column);
  bool desc = false;
  auto is = [direction](std::string_view word) {
    if (direction.size() != word.size()) return false;
    for (std::size_t i = 0; i < word.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(direction[i])) != word[i]) return false;
    return true;
  };
  if (is("desc")) desc = true;
  else if (!is("asc"))
    throw UsageError("order direction must be \"asc\" or \"desc\", got '" + std::string(direction.substr(0, 40)) + "'");
  if (records(2)) {
    const std::size_t mark = m_recording.size();
    m_recording.put(desc ? 'Z' : 'A');
    if (record_name(column, mark)) return *this;
  }
  parts();
  apply_order(column, desc);
  return *this;
}
QueryBuilder& QueryBuilder::order_by_raw(std::string sql, std::vector<Value> bindings) {
  parts().orders.push_back(QuerySpec::Order{{}, false, std::move(sql), std::move(bindings)});
  return *this;
}
namespace {
std::uint64_t row_count(std::int64_t n, const char* what) {
  if (n < 0)
    throw UsageError(std::string(what) + "(" + std::to_string(n) + "): a row count cannot be negative" +
                     (n == -1 ? " (-1 is not 'no limit' here: leave " + std::string(what) + "() out instead)" : ""));
  return static_cast<std::uint64_t>(n);
}
}  // namespace

QueryBuilder& QueryBuilder::limit(std::int64_t count) {
  const std::uint64_t n = row_count(count, "limit");
  if (records(1 + sizeof n)) {
    m_recording.put('L');
    m_recording.put_number(n);
    return *this;
  }
  parts().limit = n;
  return *this;
}
QueryBuilder& QueryBuilder::offset(std::int64_t count) {
  const std::uint64_t n = row_count(count, "offset");
  if (records(1 + sizeof n)) {
    m_recording.put('O');
    m_recording.put_number(n);
    return *this;
  }
  parts().offset = n;
  return *this;
}
QueryBuilder& QueryBuilder::all_rows() {
  parts().all_rows = true;
  return *this;
}

QueryBuilder& QueryBuilder::reorder() {
  if (records(1)) {
    m_recording.put('R');
    return *this;
  }
  Parts& p = parts();
  p.orders.clear();
  p.limit.reset();
  p.offset.reset();
  return *this;
}

}  // namespace plexus

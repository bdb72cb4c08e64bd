#include "plexus/query/builder.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "driver/name_chars.hpp"
#include "driver/sql_lexer.hpp"
#include "driver/statement_cache.hpp"
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
    detail::rewrite_placeholders(sql, grammar.syntax(), q.sql, [&](std::string& out) {
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

constinit thread_local unsigned detail::t_builder_calls = 0;

Query& detail::CallSql::query() {
  if (!m_query) {
    m_shared = !t_scratch.busy;
    if (m_shared) {
      t_scratch.busy = true;
      m_query = &t_scratch.query;
    } else {
      m_query = &m_own.emplace();
    }
  }
  return *m_query;
}

void detail::CallSql::release() noexcept {
  m_query->sql.clear();  // capacity kept; the values are not kept past the call
  m_query->bindings.clear();
  t_scratch.busy = false;
}

QueryBuilder::QueryBuilder(std::string table) : m_table(std::move(table)) {
  record_table(table_view(), true);
}
QueryBuilder::QueryBuilder(Queryable& target, std::string_view table) : m_target(&target) {
  record_table(table, false);
}

QueryBuilder::QueryBuilder(Queryable& target, const FixedTable& table) : m_target(&target), m_table(table) {
  record_table(table.m_form);
}

FixedTable::FixedTable(std::string name) : m_name(std::move(name)), m_form(name_form(m_name)) {}

QueryBuilder::QueryBuilder(std::shared_ptr<Queryable> target, std::string table)
    : m_keep(std::move(target)), m_target(m_keep.get()), m_table(std::move(table)) {
  record_table(table_view(), true);
}

namespace {
// Short names (a table's, a column's) are compared and copied a word at a
// time: whole words from the front, then the word ending at the last byte (it
// may overlap the one before); nothing outside the n bytes is read or written.
[[gnu::always_inline]] inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
[[gnu::always_inline]] inline std::uint32_t load4(const char* p) noexcept {
  std::uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
[[gnu::always_inline]] inline void store8(char* p, std::uint64_t w) noexcept { std::memcpy(p, &w, sizeof w); }
[[gnu::always_inline]] inline void store4(char* p, std::uint32_t w) noexcept { std::memcpy(p, &w, sizeof w); }

/// Whether `n` (1 to 56) bytes at `a` and `b` are the same.
[[gnu::always_inline]] inline bool same_short(const char* a, const char* b, std::size_t n) noexcept {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (load8(a + i) != load8(b + i)) return false;
    return load8(a + n - 8) == load8(b + n - 8);
  }
  if (n >= 4) return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/// Copies `n` (0 to 255) bytes from `from` to `to` (not overlapping).
[[gnu::always_inline]] inline void copy_short(char* to, const char* from, std::size_t n) noexcept {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) store8(to + i, load8(from + i));
    store8(to + n - 8, load8(from + n - 8));
  } else if (n >= 4) {
    const std::uint32_t head = load4(from), tail = load4(from + n - 4);
    store4(to, head);
    store4(to + n - 4, tail);
  } else if (n > 0) {
    const char first = from[0], middle = from[n / 2], last = from[n - 1];
    to[0] = first;
    to[n / 2] = middle;
    to[n - 1] = last;
  }
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

[[gnu::always_inline]] inline void QueryBuilder::Journal::put_name(std::string_view name) noexcept {
  m_buf[m_size++] = static_cast<char>(name.size());
  copy_short(m_buf + m_size, name.data(), name.size());
  m_size = static_cast<std::uint8_t>(m_size + name.size());
}

namespace {
// Two entries written whole, through Journal::grow(): a plain table ('T', the
// name's length, the name) and a FixedColumns ('F', its address, to replay
// it, and its serial, so a list made later at the same address is another shape).
constexpr std::size_t table_entry_size(std::size_t name_size) noexcept { return 2 + name_size; }
constexpr std::size_t k_fixed_entry_size = 1 + 2 * sizeof(std::uint64_t);
/// Returns the byte after the entry.
[[gnu::always_inline]] inline char* write_table_entry(char* at, std::string_view name) noexcept {
  at[0] = 'T';
  at[1] = static_cast<char>(name.size());
  copy_short(at + 2, name.data(), name.size());
  return at + table_entry_size(name.size());
}
}  // namespace

[[gnu::always_inline]] inline void QueryBuilder::write_fixed_entry(char* at, const FixedColumns& columns) noexcept {
  at[0] = 'F';
  store8(at + 1, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&columns)));
  store8(at + 1 + sizeof(std::uint64_t), columns.m_serial);
}

QueryBuilder::QueryBuilder(Queryable& target, const FixedTable& table, const FixedColumns& columns)
    : m_target(&target), m_table(table) {
  // Both entries at once, as record_table() and select() write them, when
  // both were checked plain when made and the target runs statements.
  const std::size_t n = table.m_name.size();
  if (table.m_form == NameForm::plain && columns.m_plain &&
      table_entry_size(n) + k_fixed_entry_size <= Journal::capacity && !target.builder_runner()) {
    char* at = m_journal.grow(table_entry_size(n) + k_fixed_entry_size);
    write_fixed_entry(write_table_entry(at, table.m_name), columns);
    m_table_form = NameForm::plain;
    return;
  }
  record_table(table.m_form);
  select(columns);
}

[[gnu::always_inline]] inline void QueryBuilder::record_table(std::string_view name, bool owned) {
  // A target that runs builders itself (a shard group) plans from the parts:
  // they are built from the first call rather than replayed at the run.
  if (m_target && m_target->builder_runner()) {
    if (!owned) m_table.own(name);
    m_table_form = name_form(table_view());
    materialize();
    return;
  }
  // The table opens the journal (the shape names it); a plain name stays
  // there, read back from it; a name too long for it builds parts.
  const std::size_t n = name.size();
  if (n == t_last_table.size && n != 0 && same_short(name.data(), t_last_table.name, n)) {
    // The name checked last (the journal is empty: it fits).
    (void)write_table_entry(m_journal.grow(table_entry_size(n)), name);
    if (!owned) m_table.in_journal(n);
    m_table_form = NameForm::plain;
    return;
  }
  m_journal.put('T');
  if (m_journal.put_plain(name)) {
    if (n <= sizeof t_last_table.name) {
      std::memcpy(t_last_table.name, name.data(), n);
      t_last_table.size = n;
    }
    if (!owned) m_table.in_journal(n);
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
  if (form != NameForm::plain || !m_journal.room(table_entry_size(name.size())) ||
      (m_target && m_target->builder_runner()))
    return record_table(name, true);
  (void)write_table_entry(m_journal.grow(table_entry_size(name.size())), name);
  m_table_form = NameForm::plain;
}

QueryBuilder Queryable::table(std::string_view name) { return QueryBuilder(*this, name); }
QueryBuilder Database::table(std::string_view table, std::string_view connection_name) {
  return connection(connection_name).table(table);
}

// ---- the journal --------------------------------------------------------------
//
// A builder records the calls it can (select lists, basic/IN/NULL/BETWEEN
// conditions, order, limit, offset, DISTINCT) as bytes: a tag, flags, and
// names with a one-byte length; values go to `values` in call order, which is
// the order the SQL binds them (only WHERE values are recorded). Two builders
// with the same bytes were built by the same calls, so they compile to the
// same SQL: the bytes are the shape key. Anything else replays the journal
// into the parts first (materialize) and goes there from then on.

namespace {
/// The canonical operators (normalize_op's results), by the index a journal records.
constexpr std::string_view k_ops[] = {"=", "<>", "<", "<=", ">", ">=", "like", "not like", "ilike"};
static_assert(k_ops[0] == "=");  // where(column, value) records '=' as 0
char op_index(std::string_view op) {
  for (std::size_t i = 0; i < std::size(k_ops); ++i)
    if (k_ops[i] == op) return static_cast<char>(i);
  throw std::logic_error("plexus: operator '" + std::string(op) + "' is not canonical");
}
}  // namespace

[[gnu::always_inline]] inline void QueryBuilder::Journal::put_number(std::uint64_t n) noexcept {
  std::memcpy(m_buf + m_size, &n, sizeof n);
  m_size = static_cast<std::uint8_t>(m_size + sizeof n);
}

[[gnu::always_inline]] inline bool QueryBuilder::Journal::put_plain(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n == 0 || n > detail::k_plain_name_max || !room(n + 1) || !detail::ident_start(name[0])) return false;
  char* to = m_buf + m_size + 1;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = name[i];
    if (!detail::ident_char(c)) return false;
    to[i] = c;
  }
  m_buf[m_size] = static_cast<char>(n);
  m_size = static_cast<std::uint8_t>(m_size + 1 + n);
  return true;
}
[[gnu::always_inline]] inline bool QueryBuilder::Journal::put_plain(const char* name) noexcept {
  if (m_size >= capacity || !detail::ident_start(name[0])) return false;  // the empty name included
  char* to = m_buf + m_size + 1;
  const std::size_t most = std::min(detail::k_plain_name_max, capacity - m_size - 1);
  std::size_t n = 0;
  for (; n < most && detail::ident_char(name[n]); ++n) to[n] = name[n];  // NUL is not a name character
  if (name[n] != '\0') return false;  // a character a plain name has not, or longer than fits
  m_buf[m_size] = static_cast<char>(n);
  m_size = static_cast<std::uint8_t>(m_size + 1 + n);
  return true;
}

[[gnu::always_inline]] inline bool QueryBuilder::record_name(std::string_view name, std::size_t mark) {
  return m_journal.put_plain(name) || record_other_name(name, mark);
}

bool QueryBuilder::record_other_name(std::string_view name, std::size_t mark) {
  try {
    (void)name_form(name);  // the other accepted forms; a bad name is refused here
  } catch (...) {
    m_journal.drop(m_journal.size() - mark);
    throw;
  }
  if (name.size() < 256 && m_journal.room(name.size() + 1)) {
    m_journal.put_name(name);
    return true;
  }
  m_journal.drop(m_journal.size() - mark);
  return false;
}

[[gnu::always_inline]] inline bool QueryBuilder::journaling(std::size_t need) {
  if (m_journal.on() && m_journal.room(need)) [[likely]]
    return true;
  if (m_journal.on()) materialize();
  return false;
}

QueryBuilder::Parts& QueryBuilder::parts() const {
  if (!m_parts.made()) materialize();
  return *m_parts;
}

void QueryBuilder::materialize() const {
  if (m_parts.made()) return;
  (void)m_parts.get();  // made empty: replaying the journal below fills it
  char bytes[Journal::capacity];
  const std::string_view recorded = m_journal.bytes();
  std::memcpy(bytes, recorded.data(), recorded.size());
  detail::SmallVector<Value, 2> values = std::move(m_journal.values);
  m_table.keep(m_journal);  // a name read from the journal is copied out of it
  m_journal.off();          // first: the calls below go to the parts
  std::size_t i = 0, v = 0;
  auto byte = [&] { return static_cast<unsigned char>(bytes[i++]); };
  auto name = [&] {
    const std::size_t n = byte();
    const std::string_view s(bytes + i, n);
    i += n;
    return s;
  };
  auto number = [&] {
    std::uint64_t n;
    std::memcpy(&n, bytes + i, sizeof n);
    i += sizeof n;
    return n;
  };
  while (i < recorded.size()) {
    switch (bytes[i++]) {
      case 'T':
        (void)name();  // the builder's own table
        break;
      case 'C': {
        const std::size_t n = byte();
        detail::SmallVector<std::string_view, 8> names;
        for (std::size_t k = 0; k < n; ++k) names.push_back(name());
        apply_select(std::span<const std::string_view>(names.data(), names.size()), false);
        break;
      }
      case 'c': {
        const std::string_view one = name();
        apply_select(std::span<const std::string_view>(&one, 1), true);
        break;
      }
      case 'F': {
        const auto address = static_cast<std::uintptr_t>(number());
        (void)number();  // the list's serial: part of the shape only
        m_parts->columns.borrow(*reinterpret_cast<const FixedColumns*>(address));
        break;
      }
      case 'D':
        m_parts->distinct = byte() != 0;
        break;
      case 'W': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_basic(column, name_form(column), k_ops[flags >> 1], std::move(values[v++]), (flags & 1) != 0);
        break;
      }
      case 'N': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_null(column, name_form(column), (flags & 2) != 0, (flags & 1) != 0);
        break;
      }
      case 'I': {
        const unsigned flags = byte();
        const auto n = static_cast<std::size_t>(number());
        const std::string_view column = name();
        std::vector<Value> list(std::make_move_iterator(values.begin() + v), std::make_move_iterator(values.begin() + v + n));
        v += n;
        apply_in(column, name_form(column), std::move(list), (flags & 2) != 0, (flags & 1) != 0);
        break;
      }
      case 'B': {
        const unsigned flags = byte();
        const std::string_view column = name();
        apply_between(column, name_form(column), std::move(values[v]), std::move(values[v + 1]), (flags & 2) != 0);
        v += 2;
        break;
      }
      case 'A':
      case 'Z': {
        const bool desc = bytes[i - 1] == 'Z';
        apply_order(name(), desc);
        break;
      }
      case 'L':
        m_parts->limit = number();
        break;
      case 'O':
        m_parts->offset = number();
        break;
      case 'R':
        m_parts->orders.clear();
        m_parts->limit.reset();
        m_parts->offset.reset();
        break;
      default:
        throw std::logic_error("plexus: a query builder's journal holds an unknown entry");
    }
  }
}

// ---- building ---------------------------------------------------------------

void QueryBuilder::apply_select(std::span<const std::string_view> names, bool add) const {
  auto& own = m_parts->columns.own();
  if (!add) own.clear();
  for (std::string_view n : names) {
    Expr& e = own.emplace_back(n);
    e.m_form = name_form(e.text());
  }
}

QueryBuilder& QueryBuilder::select(std::initializer_list<Expr> columns) {
  return select(std::span<const Expr>(columns.begin(), columns.size()));
}
QueryBuilder& QueryBuilder::select(std::initializer_list<const char*> columns) {
  if (columns.size() < 256 && journaling(2)) {
    // Each name checked as it is copied; the entry taken back when one does not fit.
    const std::size_t mark = m_journal.size();
    m_journal.put('C');
    m_journal.put(static_cast<char>(columns.size()));
    bool recorded = true;
    for (const char* name : columns) {
      if (!name) {  // refused below
        m_journal.drop(m_journal.size() - mark);
        recorded = false;
        break;
      }
      if (!m_journal.put_plain(name) && !record_name(name, mark)) {
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
  if (columns.size() < 256 && journaling(2)) {
    const std::size_t mark = m_journal.size();
    m_journal.put('C');
    m_journal.put(static_cast<char>(columns.size()));
    bool recorded = true;
    for (const Expr& c : columns) {
      if (c.is_raw()) {  // bindings among the columns: built as parts
        m_journal.drop(m_journal.size() - mark);
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
    if (!c.is_raw()) c.m_form = name_form(c.text());
  return *this;
}
QueryBuilder& QueryBuilder::select(const FixedColumns& columns) {
  if (columns.m_plain && journaling(k_fixed_entry_size)) {
    write_fixed_entry(m_journal.grow(k_fixed_entry_size), columns);
    return *this;
  }
  parts().columns.borrow(columns);
  return *this;
}
QueryBuilder& QueryBuilder::add_select(Expr column) {
  if (!column.is_raw()) {
    if (journaling(2)) {
      const std::size_t mark = m_journal.size();
      m_journal.put('c');
      if (record_name(column.text(), mark)) return *this;
    }
    column.m_form = name_form(column.text());
  }
  parts().columns.own().push_back(std::move(column));
  return *this;
}

FixedColumns::FixedColumns(std::vector<Expr> columns) : m_columns(std::move(columns)) {
  static std::atomic<std::uint64_t> next{1};
  m_serial = next.fetch_add(1, std::memory_order_relaxed);
  for (auto& c : m_columns) {
    if (c.is_raw()) m_plain = false;
    else c.m_form = name_form(c.text());
  }
}

QueryBuilder& QueryBuilder::distinct(bool on) {
  if (journaling(2)) {
    m_journal.put('D');
    m_journal.put(on ? '\1' : '\0');
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
  if (journaling(3)) {
    const std::size_t mark = m_journal.size();
    // 'N' (IS [NOT] NULL: bit 1 for <>) or 'W' (the operator's index above bit 0); bit 0: OR.
    char* at = m_journal.grow(2);
    at[0] = null ? 'N' : 'W';
    at[1] = static_cast<char>((null ? (op_at == 1 ? 2 : 0) : op_at << 1) | (use_or ? 1 : 0));
    if (record_name(column, mark)) {
      if (!null) m_journal.values.push_back(std::move(value));
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
  if (journaling(3)) {
    const std::size_t mark = m_journal.size();
    m_journal.put('N');
    m_journal.put(static_cast<char>((negated ? 2 : 0) | (use_or ? 1 : 0)));
    if (record_name(column, mark)) return *this;
  }
  const NameForm form = name_form(column);
  parts();
  apply_null(column, form, negated, use_or);
  return *this;
}
QueryBuilder& QueryBuilder::add_in(std::string_view column, std::vector<Value>&& values, bool negated, bool use_or) {
  if (journaling(3 + sizeof(std::uint64_t))) {
    const std::size_t mark = m_journal.size();
    m_journal.put('I');
    m_journal.put(static_cast<char>((negated ? 2 : 0) | (use_or ? 1 : 0)));
    m_journal.put_number(values.size());
    if (record_name(column, mark)) {
      for (Value& v : values) m_journal.values.push_back(std::move(v));
      return *this;
    }
  }
  const NameForm form = name_form(column);
  parts();
  apply_in(column, form, std::move(values), negated, use_or);
  return *this;
}
QueryBuilder& QueryBuilder::add_between(std::string_view column, Value&& low, Value&& high, bool negated) {
  if (journaling(3)) {
    const std::size_t mark = m_journal.size();
    m_journal.put('B');
    m_journal.put(negated ? '\2' : '\0');
    if (record_name(column, mark)) {
      m_journal.values.push_back(std::move(low));
      m_journal.values.push_back(std::move(high));
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
  parts().joins.push_back(Join{std::move(type), std::string(table), std::string(first), o, std::string(second)});
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
  m_parts->orders.push_back(Order{std::string(column), desc, {}, {}});
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
  if (journaling(2)) {
    const std::size_t mark = m_journal.size();
    m_journal.put(desc ? 'Z' : 'A');
    if (record_name(column, mark)) return *this;
  }
  parts();
  apply_order(column, desc);
  return *this;
}
QueryBuilder& QueryBuilder::order_by_raw(std::string sql, std::vector<Value> bindings) {
  parts().orders.push_back(Order{{}, false, std::move(sql), std::move(bindings)});
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
  if (journaling(1 + sizeof n)) {
    m_journal.put('L');
    m_journal.put_number(n);
    return *this;
  }
  parts().limit = n;
  return *this;
}
QueryBuilder& QueryBuilder::offset(std::int64_t count) {
  const std::uint64_t n = row_count(count, "offset");
  if (journaling(1 + sizeof n)) {
    m_journal.put('O');
    m_journal.put_number(n);
    return *this;
  }
  parts().offset = n;
  return *this;
}
QueryBuilder& QueryBuilder::reorder() {
  if (journaling(1)) {
    m_journal.put('R');
    return *this;
  }
  Parts& p = parts();
  p.orders.clear();
  p.limit.reset();
  p.offset.reset();
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
        // Longer than one statement may bind: refused before anything is sent.
        if (c.q.bindings.size() > c.grammar.max_parameters())
          throw UsageError("where_in('" + std::string(w.column) + "') binds " + std::to_string(w.values.size()) +
                           " values, and the statement " + std::to_string(c.q.bindings.size()) + " in all; " +
                           std::string(c.grammar.name()) + " takes at most " +
                           std::to_string(c.grammar.max_parameters()) +
                           " per statement: look the keys up in chunks, or join a table that holds them");
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
        if (w.nested->parts().wheres.empty()) {
          c.sql() += "1 = 1"sv;
          break;
        }
        c.sql() += '(';
        compile_where(c, w.nested->parts().wheres);
        c.sql() += ')';
        break;
    }
  }
}

void QueryBuilder::compile_from(Compiler& c) const {
  const Parts& p = parts();
  c.sql() += " FROM "sv;
  c.ident(table_view(), m_table_form);
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
    compile_where(c, p.wheres);
  }
}

void QueryBuilder::compile_select(Compiler& c) const {
  const Parts& p = parts();
  c.sql() += p.distinct ? "SELECT DISTINCT "sv : "SELECT "sv;
  if (p.columns.empty()) c.sql() += '*';
  for (std::size_t i = 0; i < p.columns.size(); ++i) {
    if (i) c.sql() += ", "sv;
    if (p.columns[i].is_raw()) c.raw(p.columns[i].text(), p.columns[i].bindings());
    else c.ident(p.columns[i].text(), p.columns[i].m_form);
  }
  compile_from(c);
  if (!p.groups.empty()) {
    c.sql() += " GROUP BY "sv;
    for (std::size_t i = 0; i < p.groups.size(); ++i) {
      if (i) c.sql() += ", "sv;
      c.ident(p.groups[i]);
    }
  }
  if (!p.havings.empty()) {
    c.sql() += " HAVING "sv;
    compile_where(c, p.havings);
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
/// The key is everything the text depends on, compared whole, never a hash
/// alone; as in a session's statement cache, the shape used last is checked first.
struct ShapeCache {
  static constexpr std::size_t max_shapes = 1024;  // per map: a program with more starts over rather than grow without end
  using Map = detail::StatementCache<std::string>;
  Map recorded;  ///< by journal (a builder that recorded its calls)
  Map parts;     ///< by shape() (a builder that built its parts)
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

bool QueryBuilder::shape(ShapeKey& key, std::vector<Value>& values, bool first) const {
  const Parts& p = parts();
  if (!p.joins.empty() || !p.groups.empty() || !p.havings.empty()) return false;
  key.put(table_view());
  key.put(p.distinct ? 'D' : 'S');
  for (const Expr& e : p.columns) {
    if (e.is_raw()) return false;
    key.put('c');
    key.put(e.text());
  }
  using K = Condition::Kind;
  for (const Condition& w : p.wheres) {
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
  for (const Order& o : p.orders) {
    if (o.column.empty()) return false;  // raw
    key.put(o.desc ? 'd' : 'a');
    key.put(o.column);
  }
  key.put_number('L', first ? std::optional<std::uint64_t>(1) : p.limit);
  key.put_number('F', p.offset);
  return !key.full();
}

QueryBuilder::Statement QueryBuilder::statement(const Grammar& g, detail::CallSql& into, bool first) {
  // A recorded builder whose shape ran before: its journal, with the dialect
  // and the LIMIT 1 of first() put after it, is the key, looked up where it lies.
  if (m_journal.on() && m_journal.room(2)) {
    char* at = m_journal.grow(2);
    at[0] = static_cast<char>(g.slot());
    at[1] = first ? 'f' : 'a';
    const std::string* sql = t_shapes.recorded.find(m_journal.bytes());
    m_journal.drop(2);
    if (sql) return {*sql, m_journal.values};
  }
  return compile_statement(g, into, first);
}

[[gnu::noinline]] QueryBuilder::Statement QueryBuilder::compile_statement(const Grammar& g, detail::CallSql& into,
                                                                            bool first) {
  auto& cache = m_journal.on() ? t_shapes.recorded : t_shapes.parts;
  std::string key;  // kept for the cache on a miss
  bool cached = false;
  std::size_t values = 0;
  if (m_journal.on()) {
    // The journal is the shape, looked up where it lies with the dialect and
    // the LIMIT 1 of first() put after it for the lookup.
    if (m_journal.room(2)) {
      m_journal.put(static_cast<char>(g.slot()));
      m_journal.put(first ? 'f' : 'a');
      if (const std::string* sql = cache.find(m_journal.bytes())) {
        m_journal.drop(2);
        return {*sql, m_journal.values};
      }
      key = m_journal.bytes();
      m_journal.drop(2);
      cached = true;
    }
    values = m_journal.values.size();
  } else {
    Query& q = into.query();
    ShapeKey shape_key;
    shape_key.put(static_cast<char>(g.slot()));
    cached = shape(shape_key, q.bindings, first);
    if (cached) {
      if (const std::string* sql = cache.find(shape_key.view())) return {*sql, q.bindings};
      key = shape_key.view();
    }
    values = q.bindings.size();
    q.bindings.clear();
  }
  // Compiled from the parts, LIMIT 1 set in place for `first` and then restored.
  Query& q = into.query();
  Parts& p = parts();
  const auto saved = p.limit;
  if (first) p.limit = 1;
  try {
    Compiler c(g, q);
    compile_select(c);
  } catch (...) {
    p.limit = saved;
    throw;
  }
  p.limit = saved;
  if (cached) {
    // The shape's values must be the compiled statement's, in its order
    // (tests compare both on generated builders); refuse rather than run another binding.
    if (q.bindings.size() != values)
      throw std::logic_error("plexus: a builder's shape binds " + std::to_string(values) + " value(s), its SQL " +
                             std::to_string(q.bindings.size()) + ": " + q.sql);
    // Texts handed out to a call still running on this thread (a query hook
    // running a builder) stay valid: only the outermost call starts over.
    if (cache.size() < ShapeCache::max_shapes) {
      cache.insert(key, q.sql);
    } else if (into.outermost()) {
      cache.clear();
      cache.insert(key, q.sql);
    }
  }
  return {q.sql, q.bindings};
}

Query QueryBuilder::insert_sql(const Grammar& g, const std::vector<Fields>& rows,
                               std::span<const std::string> returning) const {
  if (rows.empty() || rows.front().empty()) throw UsageError("insert into '" + table() + "' needs at least one column");
  const Fields& head = rows.front();
  for (const auto& [col, v] : head) check_name(col);
  Compiler c(g);
  c.sql() += "INSERT INTO "sv;
  c.ident(table_view());
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
      throw UsageError("insert into '" + table() + "': row " + std::to_string(r) + " has " + std::to_string(row.size()) +
                       " columns, the first has " + std::to_string(head.size()));
    c.sql() += r ? ", ("sv : "("sv;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (row[i].first != head[i].first)
        throw UsageError("insert into '" + table() + "': row " + std::to_string(r) + " has column '" + row[i].first +
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
  const Parts& p = parts();
  if (!p.wheres.empty() || p.all_rows) return;
  throw UsageError(std::string(what) + " of '" + table() +
                   "' has no where(): it would change every row. Add a where(), or call all_rows() first to say "
                   "that every row is meant");
}

QueryBuilder& QueryBuilder::all_rows() {
  parts().all_rows = true;
  return *this;
}

Query QueryBuilder::update_sql(const Grammar& g, const Fields& fields) const {
  const Parts& p = parts();
  if (fields.empty()) throw UsageError("update of '" + table() + "' needs at least one column");
  require_where("update");
  Compiler c(g);
  c.sql() += "UPDATE "sv;
  c.ident(table_view());
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
    compile_where(c, p.wheres);
  }
  return std::move(c.q);
}

Query QueryBuilder::delete_sql(const Grammar& g) const {
  const Parts& p = parts();
  require_where("delete");
  Compiler c(g);
  c.sql() += "DELETE FROM "sv;
  c.ident(table_view());
  if (!p.wheres.empty()) {
    c.sql() += " WHERE "sv;
    compile_where(c, p.wheres);
  }
  return std::move(c.q);
}

Query QueryBuilder::upsert_sql(const Grammar& g, const std::vector<Fields>& rows, std::span<const std::string> unique_by,
                               std::span<const std::string> update) const {
  if (unique_by.empty()) throw UsageError("upsert into '" + table() + "' needs the unique column(s) to match on");
  for (const auto& u : unique_by) check_name(u);
  for (const auto& u : update) check_name(u);
  Query q = insert_sql(g, rows);
  g.upsert_tail(q.sql, unique_by, update);
  return q;
}

Query QueryBuilder::aggregate_sql(const Grammar& g, std::string_view function, std::string_view column) const {
  const Parts& p = parts();
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
  if (!p.groups.empty() || p.distinct || p.limit || p.offset) {
    // Aggregate over the rows the query returns, not over the groups' rows.
    call(c);
    c.sql() += " FROM ("sv;
    QueryBuilder inner = *this;
    if (inner.parts().columns.empty() && !p.groups.empty())  // SELECT * is invalid with GROUP BY on most engines
      inner.parts().columns.own().assign(p.groups.begin(), p.groups.end());
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

void QueryBuilder::refuse_unbound(std::string_view what) const {
  throw UsageError("this query builder for '" + table() + "' is not bound to a connection, so it cannot " +
                   std::string(what) + "; create it with db.table(\"" + table() +
                   "\", \"connection\") or conn.table(\"" + table() + "\"), or pass a dialect to to_sql()");
}

std::pair<Queryable*, BuilderRunner*> QueryBuilder::route_by(BuilderRunner& runner) const {
  if (Queryable* one = runner.single(*this)) return {one, nullptr};
  return {nullptr, &runner};
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
  const Statement s = statement(t->grammar(), call, false);
  return t->select(s.sql, s.values);
}

Record::Record(Row row) { fill(row); }

void Record::fill(Row row) {
  m_cols = row.columns();
  m_values.reserve(m_cols.size());
  if (const ColumnSource* src = row.source()) [[unlikely]]  // a row read through its engine's column source
    take_values(*src);
  else
    for (const Value& v : row) m_values.emplace_back(v);
}

void Record::take_values(const ColumnSource& src) {
  ColumnSource::Cell c;
  const std::size_t n = m_cols.size();  // read once: the calls below are virtual
  for (std::size_t i = 0; i < n; ++i) {
    src.cell(i, c);
    switch (c.kind) {  // each as the Value the row would have held
      case ColumnSource::Kind::integer: m_values.emplace_back(c.integer); break;
      case ColumnSource::Kind::real: m_values.emplace_back(c.real); break;
      case ColumnSource::Kind::text: m_values.emplace_back(c.text); break;
      case ColumnSource::Kind::other: m_values.emplace_back(src.value(i)); break;
    }
  }
}

namespace {
Row first_row(const Result& r) {
  if (r.empty()) throw UsageError("a Record is made from a result with at least one row; this one has none");
  return r[0];
}
}  // namespace

Record::Record(Result r) : Record(first_row(r)) {}

std::uint64_t detail::read_first(Queryable& on, std::string_view sql, std::span<const Value> values,
                                 std::optional<Record>& out) {
  auto take = [&out](Row row) {
    out->fill(row);  // reads a row without Values through its column source
    return false;
  };
  const std::uint64_t n = on.select_each(sql, values, RowVisitor(take, RowVisitor::cells));
  if (n == 0) out.reset();
  return n;
}

std::optional<Record> QueryBuilder::first() {
  // The one object returned (NRVO): the Record is made where the caller keeps
  // it, engaged and unfilled until its row is read (see Record::Unfilled).
  std::optional<Record> out(std::in_place, Record::Unfilled());
  auto [t, scatter] = route("run");
  if (scatter) {
    QueryBuilder one = *this;
    Result r = scatter->get(one.limit(1));
    if (r.empty()) out.reset();
    else out->fill(r[0]);
    return out;
  }
  detail::CallSql call;
  const Statement s = statement(t->grammar(), call, true);
  (void)detail::read_first(*t, s.sql, s.values, out);
  return out;
}

std::uint64_t QueryBuilder::each_row(const RowVisitor& visit, bool first_only) {
  auto [t, scatter] = route("run");
  if (scatter) return each_row_merged(*scatter, visit, first_only);
  detail::CallSql call;
  const Statement s = statement(t->grammar(), call, first_only);
  return t->select_each(s.sql, s.values, visit);
}

[[gnu::noinline]] std::uint64_t QueryBuilder::each_row_merged(BuilderRunner& runner, const RowVisitor& visit,
                                                               bool first_only) {
  std::optional<QueryBuilder> one;
  if (first_only) one.emplace(*this).limit(1);
  const Result r = runner.get(one ? *one : *this);
  std::uint64_t n = 0;
  for (Row row : r)
    if (++n, !visit(row)) break;
  return n;
}

PreparedQuery QueryBuilder::prepare() const {
  auto [one_target, scatter] = route("be prepared");
  if (scatter)
    throw UsageError("a query on '" + table() + "' across a shard group cannot be prepared (each run plans and merges "
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
  std::optional<Record> out(std::in_place, Record::Unfilled());
  (void)detail::read_first(*m_target, m_first.sql, bind(values), out);
  return out;
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
  const Parts& p = parts();
  auto [t, scatter] = route("run");
  if (scatter) {
    if (column != "*") check_name(column);
    if (!p.groups.empty() || p.distinct || p.limit || p.offset) {
      // Over the rows the query returns: count them after the merge.
      if (function == "COUNT" && column == "*") return Value(static_cast<std::int64_t>(scatter->get(*this).size()));
      throw UsageError(std::string(function) + " over a grouped, DISTINCT or limited query across a shard group: "
                       "run get() and compute it from the rows");
    }
    QueryBuilder agg = *this;
    agg.parts().columns.own() = {Expr(raw(std::string(function) + "(" + std::string(column) + ") AS aggregate"))};
    agg.parts().orders.clear();
    return scatter->get(agg)[0][0];
  }
  Query q = aggregate_sql(t->grammar(), function, column);
  return t->scalar(q.sql, q.bindings);
}

std::int64_t QueryBuilder::count(std::string_view column) { return aggregate("COUNT", column).as<std::int64_t>(); }

bool QueryBuilder::exists() {
  QueryBuilder one = *this;
  one.parts().columns.own() = {Expr(raw("1"))};
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
  const Parts& p = parts();
  if (size == 0) throw UsageError("chunk size must be at least 1");
  if (p.orders.empty())
    throw UsageError("chunk() over '" + table() + "' needs order_by(): without an order, rows may repeat or be skipped");
  for (std::uint64_t off = p.offset.value_or(0);; off += size) {
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
    Result r = t.insert_returning_key(KeyedInsert{table(), id_column, q.sql, plain}, q.bindings);
    return r[0][0].as<std::int64_t>();
  }
  Query q = insert_sql(g, {row});
  auto r = t.execute(q.sql, q.bindings);
  if (!r.last_insert_id())
    throw UsageError("the engine reported no generated id for the insert into '" + table() + "'");
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
  const Parts& p = parts();
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
  c.ident(table_view());
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
    compile_where(c, p.wheres);
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

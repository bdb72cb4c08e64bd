// Running a builder: each verb asks its target where it runs (one target,
// or a shard group that plans and merges), looks its read up in the shape
// cache or compiles it (compile.cpp), and hands the statement over; Record
// and PreparedQuery, what reads return.
#include <algorithm>
#include <cstring>

#include "plexus/core/error.hpp"
#include "plexus/db/queryable.hpp"
#include "driver/statement_cache.hpp"
#include "plexus/query/builder.hpp"
#include "query/compile.hpp"

namespace plexus {

using namespace std::string_view_literals;

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

// ---- the shape cache: a read looked up before it is compiled ---------------

namespace {
/// SELECT text by builder shape, per thread (no lock): a builder run on every
/// request compiles once per shape and dialect, later runs look the text up.
/// The key is everything the text depends on, compared whole, never a hash
/// alone; as in a session's statement cache, the shape used last is checked first.
struct ShapeCache {
  static constexpr std::size_t max_shapes = 1024;  // per map: a program with more starts over rather than grow without end
  using Map = detail::StatementCache<std::string>;
  Map recorded;  ///< by recording (a builder that recorded its calls)
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
  for (const QuerySpec::Order& o : p.orders) {
    if (o.column.empty()) return false;  // raw
    key.put(o.desc ? 'd' : 'a');
    key.put(o.column);
  }
  key.put_number('L', first ? std::optional<std::uint64_t>(1) : p.limit);
  key.put_number('F', p.offset);
  return !key.full();
}

QueryBuilder::Statement QueryBuilder::statement(const Grammar& g, detail::CallSql& into, bool first) {
  // A recorded builder whose shape ran before: its recording, with the dialect
  // and the LIMIT 1 of first() put after it, is the key, looked up where it lies.
  if (m_recording.on() && m_recording.room(2)) {
    char* at = m_recording.grow(2);
    at[0] = static_cast<char>(g.slot());
    at[1] = first ? 'f' : 'a';
    const std::string* sql = t_shapes.recorded.find(m_recording.bytes());
    m_recording.drop(2);
    if (sql) return {*sql, m_recording.values};
  }
  return compile_statement(g, into, first);
}

[[gnu::noinline]] QueryBuilder::Statement QueryBuilder::compile_statement(const Grammar& g, detail::CallSql& into,
                                                                            bool first) {
  auto& cache = m_recording.on() ? t_shapes.recorded : t_shapes.parts;
  std::string key;  // kept for the cache on a miss
  bool cached = false;
  std::size_t values = 0;
  if (m_recording.on()) {
    // The recording is the shape, looked up where it lies with the dialect and
    // the LIMIT 1 of first() put after it for the lookup.
    if (m_recording.room(2)) {
      m_recording.put(static_cast<char>(g.slot()));
      m_recording.put(first ? 'f' : 'a');
      if (const std::string* sql = cache.find(m_recording.bytes())) {
        m_recording.drop(2);
        return {*sql, m_recording.values};
      }
      key = m_recording.bytes();
      m_recording.drop(2);
      cached = true;
    }
    values = m_recording.values.size();
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
    detail::SqlWriter c(g, q);
    detail::write_select(c, *this);
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

// ---- running ----------------------------------------------------------------

void QueryBuilder::refuse_unbound(std::string_view what) const {
  throw UsageError("this query builder for '" + table() + "' is not bound to a connection, so it cannot " +
                   std::string(what) + "; create it with db.table(\"" + table() +
                   "\", \"connection\") or conn.table(\"" + table() + "\"), or pass a dialect to to_sql()");
}

std::pair<SingleTarget*, PlanningTarget*> QueryBuilder::route_by(PlanningTarget& runner) const {
  if (SingleTarget* one = runner.single(*this)) return {one, nullptr};
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

[[gnu::noinline]] std::uint64_t QueryBuilder::each_row_merged(PlanningTarget& runner, const RowVisitor& visit,
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

/// A write through a planning target, routed again when the one member it
/// went to refused it because an online reshard had moved the rows (see
/// PlanningTarget::reroute): `write(one)` clears `one` when it runs on
/// several members, and such a write is never run twice.
template <class F>
static auto rerouted(PlanningTarget& runner, F&& write) {
  for (int attempt = 0;; ++attempt) {
    bool one = true;
    try {
      return write(one);
    } catch (const Error& e) {
      if (!one || !runner.reroute(e, attempt)) throw;
    }
  }
}

/// `row` with the column its target generates (a global id) added, when it lacks it.
static std::optional<Fields> completed(PlanningTarget& runner, const QueryBuilder& q, const Fields& row) {
  auto id = runner.generated(q, row);
  if (!id) return std::nullopt;
  Fields with = row;
  with.push_back(std::move(*id));
  return with;
}

Result QueryBuilder::insert(const Fields& row) {
  if (auto* runner = require_target("insert").planning_target()) {
    const auto with = completed(*runner, *this, row);
    const Fields& full = with ? *with : row;
    return rerouted(*runner, [&](bool&) { return on(runner->owner(*this, full)).insert(full); });
  }
  auto& t = require_single("insert");
  // The one row compiled where it is (no vector of rows copied around it).
  Query q = detail::compile_insert(t.grammar(), table(), std::span<const Fields>(&row, 1), {});
  return t.execute(q.sql, q.bindings);
}

std::int64_t QueryBuilder::insert_get_id(const Fields& row, std::string_view id_column) {
  if (auto* runner = require_target("insert").planning_target()) {
    const auto with = completed(*runner, *this, row);
    if (with && with->back().first == id_column) {  // the id is the one just generated
      rerouted(*runner, [&](bool&) { return on(runner->owner(*this, *with)).insert(*with); });
      return with->back().second.as<std::int64_t>();
    }
    const Fields& full = with ? *with : row;
    return rerouted(*runner, [&](bool&) { return on(runner->owner(*this, full)).insert_get_id(full, id_column); });
  }
  auto& t = require_single("insert");
  const Grammar& g = t.grammar();
  if (g.supports_returning()) {
    std::string id(id_column);
    std::size_t plain_size = 0;  // the same INSERT without its RETURNING clause, for sessions that
                                 // read the key as the row id
    Query q = detail::compile_insert(g, table(), std::span<const Fields>(&row, 1), std::span<const std::string>(&id, 1), &plain_size);
    const std::string_view plain = std::string_view(q.sql).substr(0, plain_size);
    Result r = t.insert_returning_key(KeyedInsert{table(), id_column, q.sql, plain}, q.bindings);
    return r[0][0].as<std::int64_t>();
  }
  Query q = detail::compile_insert(g, table(), std::span<const Fields>(&row, 1), {});
  auto r = t.execute(q.sql, q.bindings);
  if (!r.last_insert_id())
    throw UsageError("the engine reported no generated id for the insert into '" + table() + "'");
  return *r.last_insert_id();
}

/// Rows split by the member a runner places each on, in their order.
static std::vector<std::pair<Queryable*, std::vector<Fields>>> by_owner(PlanningTarget& runner, const QueryBuilder& q,
                                                                         const std::vector<Fields>& rows) {
  std::vector<std::pair<Queryable*, std::vector<Fields>>> parts;
  for (const auto& row : rows) {
    auto with = completed(runner, q, row);
    const Fields& full = with ? *with : row;
    Queryable* owner = &runner.owner(q, full);
    auto it = std::find_if(parts.begin(), parts.end(), [&](const auto& p) { return p.first == owner; });
    if (it == parts.end()) it = parts.insert(parts.end(), {owner, {}});
    if (with) it->second.push_back(std::move(*with));
    else it->second.push_back(row);
  }
  return parts;
}

std::uint64_t QueryBuilder::insert_many(const std::vector<Fields>& rows) {
  if (rows.empty()) return 0;
  if (auto* runner = require_target("insert").planning_target()) {
    // Each member's rows atomically there; for all or none across members use db.transaction.
    return rerouted(*runner, [&](bool& one) {
      std::uint64_t n = 0;
      auto parts = by_owner(*runner, *this, rows);
      one = parts.size() == 1;
      for (auto& [owner, part] : parts) n += on(*owner).insert_many(part);
      return n;
    });
  }
  auto& t = require_single("insert");
  const Grammar& g = t.grammar();
  const std::size_t cols = std::max<std::size_t>(1, rows.front().size());
  const std::size_t per_statement = std::clamp<std::size_t>(g.max_parameters() / cols, 1, 1000);
  if (rows.size() <= per_statement) {
    Query q = insert_sql(g, rows);
    t.execute(q.sql, q.bindings);
    return rows.size();
  }
  // Several statements: all or nothing.
  t.atomically([&](SingleTarget& tx) {
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
  if (auto* runner = require_target("update").planning_target()) {
    return rerouted(*runner, [&](bool& one) -> std::uint64_t {
      if (auto moved = runner->move(*this, fields)) return *moved;  // all or nothing across members
      std::uint64_t n = 0;
      const auto targets = runner->writers(*this, &fields, "update");
      one = targets.size() == 1;
      for (Queryable* w : targets) n += on(*w).update(fields);
      return n;
    });
  }
  auto& t = require_single("update");
  Query q = update_sql(t.grammar(), fields);
  return t.execute(q.sql, q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::increment(std::string_view column, std::int64_t by, const Fields& also) {
  if (auto* runner = require_target("update").planning_target()) {
    Fields set = also;
    set.emplace_back(std::string(column), Value());
    return rerouted(*runner, [&](bool& one) {
      std::uint64_t n = 0;
      const auto targets = runner->writers(*this, &set, "increment");
      one = targets.size() == 1;
      for (Queryable* w : targets) n += on(*w).increment(column, by, also);
      return n;
    });
  }
  auto& t = require_single("update");
  Query q = increment_sql(t.grammar(), column, by, also);
  return t.execute(q.sql, q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::remove() {
  if (auto* runner = require_target("delete").planning_target()) {
    return rerouted(*runner, [&](bool& one) {
      std::uint64_t n = 0;
      const auto targets = runner->writers(*this, nullptr, "delete");
      one = targets.size() == 1;
      for (Queryable* w : targets) n += on(*w).remove();
      return n;
    });
  }
  auto& t = require_single("delete");
  Query q = delete_sql(t.grammar());
  return t.execute(q.sql, q.bindings).affected_rows();
}

std::uint64_t QueryBuilder::upsert(const std::vector<Fields>& rows, std::vector<std::string> unique_by,
                                   std::vector<std::string> update) {
  if (auto* runner = require_target("upsert").planning_target()) {
    return rerouted(*runner, [&](bool& one) {
      std::uint64_t n = 0;
      auto parts = by_owner(*runner, *this, rows);
      one = parts.size() == 1;
      for (auto& [owner, part] : parts) n += on(*owner).upsert(part, unique_by, update);
      return n;
    });
  }
  auto& t = require_single("upsert");
  Query q = upsert_sql(t.grammar(), rows, unique_by, update);
  return t.execute(q.sql, q.bindings).affected_rows();
}


}  // namespace plexus

// The fluent query builder: `conn.table("users").where("is_admin", true).get()`.
// Identifiers are validated and quoted per dialect; values are always bound.
#pragma once

#include <cstdint>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/core/on_demand.hpp"
#include "plexus/core/result.hpp"
#include "plexus/core/small_vector.hpp"
#include "plexus/db/queryable.hpp"
#include "plexus/driver/grammar.hpp"
#include "plexus/query/query.hpp"
#include "plexus/query/spec.hpp"

namespace plexus {

class Queryable;

class Record;
namespace detail {
/// Reads the first row of `sql` into `out` (an engaged, unfilled Record), which
/// it leaves empty when there is none; the read stops after the row.
std::uint64_t read_first(Queryable& on, std::string_view sql, std::span<const Value> values, std::optional<Record>& out);
}  // namespace detail

/// One row that owns its data (what first() returns): its values are held
/// in the Record itself (no allocation for up to 6 columns).
class Record {
 public:
  /// The first row of `r`. @throws UsageError when `r` has none.
  explicit Record(Result r);
  /// A copy of `row` (a Row is only valid while its Result or read lasts).
  explicit Record(Row row);
  /// What only a read makes: a Record it fills in place once its row is read.
  class Unfilled {
    friend class QueryBuilder;
    friend class PreparedQuery;
    Unfilled() = default;
  };
  /// Holds no row until the read that made it fills it (first() returns it
  /// engaged only then; std::optional's empty state zeroes all of its storage).
  explicit Record(Unfilled) noexcept {}
  [[nodiscard]] Row row() const noexcept { return Row(&m_cols, m_values.data()); }
  [[nodiscard]] const Value& operator[](std::string_view name) const { return row()[name]; }
  [[nodiscard]] const Value& operator[](std::size_t i) const { return row()[i]; }
  template <class T>
  [[nodiscard]] T get(std::string_view name) const {
    return row().get<T>(name);
  }
  [[nodiscard]] const Columns& columns() const noexcept { return m_cols; }

 private:
  friend class QueryBuilder;  // fills the one a shard group's merged read found
  friend std::uint64_t detail::read_first(Queryable&, std::string_view, std::span<const Value>, std::optional<Record>&);
  /// Copies `row` into this unfilled Record.
  void fill(Row row);
  void take_values(const ColumnSource& src);
  Columns m_cols;
  detail::SmallVector<Value, 6> m_values;
};

/// One page of results with the totals a pager needs.
struct Page {
  Result items;
  std::uint64_t total = 0;
  std::uint64_t page = 1;
  std::uint64_t per_page = 15;
  std::uint64_t last_page = 1;
};

class QueryBuilder;

/// A read built once and run many times with new values: the SQL is compiled
/// when it is prepared, so a call only binds and runs (the engine's statement
/// cache does the rest). Values are passed in the order the builder bound
/// them; a call without values uses the ones given when it was built.
///
///   auto by_email = conn.table("users").where("email", "").prepare();
///   auto u = by_email.first({"ada@example.com"});
///
/// Runs where its builder would: a Connection or a Transaction, which must
/// outlive it, or a routed view (conn.on_primary()), which it keeps a copy of.
class PreparedQuery {
 public:
  [[nodiscard]] Result get(Params values = {});
  [[nodiscard]] std::optional<Record> first(Params values = {});
  /// The rows as T (see Queryable::select_as).
  template <ReadableRow T>
  [[nodiscard]] std::vector<T> get_as(Params values = {}) {
    return m_target->select_as<T>(m_all.sql, bind(values));
  }
  /// The first row as T, or nullopt (runs the LIMIT 1 form; see Queryable::select_one_as).
  template <ReadableRow T>
  [[nodiscard]] std::optional<T> first_as(Params values = {}) {
    return m_target->select_one_as<T>(m_first.sql, bind(values));
  }
  /// The compiled SQL (without LIMIT 1; first() runs its own).
  [[nodiscard]] const std::string& sql() const noexcept { return m_all.sql; }
  /// How many values each call binds.
  [[nodiscard]] std::size_t parameters() const noexcept { return m_all.bindings.size(); }

 private:
  friend class QueryBuilder;
  PreparedQuery(Queryable& target, std::shared_ptr<Queryable> keep, Query all, Query first) noexcept
      : m_keep(std::move(keep)), m_target(&target), m_all(std::move(all)), m_first(std::move(first)) {}
  /// The values to bind: `values`, checked against the count, or the defaults.
  [[nodiscard]] std::span<const Value> bind(const Params& values) const;

  std::shared_ptr<Queryable> m_keep;  ///< a routed view's copy, when it runs on one
  Queryable* m_target;
  Query m_all;
  Query m_first;
};

namespace detail {

/// Where a builder compiles a statement it runs at once: storage the thread
/// reuses (no allocation once warm), or, while a statement compiled that way
/// is still running on this thread (a query hook running a builder), its own.
/// The builder calls running on this thread (a query hook may run a builder inside another's call).
extern constinit thread_local unsigned t_builder_calls;
class CallSql {
 public:
  CallSql() noexcept : m_outermost(t_builder_calls++ == 0) {}
  ~CallSql() {
    --t_builder_calls;
    if (m_shared) release();
  }
  CallSql(const CallSql&) = delete;
  CallSql& operator=(const CallSql&) = delete;
  /// The storage to compile into, taken at the first ask (a statement found
  /// compiled needs none): the thread's own when free, else this call's.
  [[nodiscard]] Query& query();
  /// No other call was running on this thread when this one began.
  [[nodiscard]] bool outermost() const noexcept { return m_outermost; }

 private:
  /// Hands the thread's storage back (emptied, its capacity kept).
  void release() noexcept;
  Query* m_query = nullptr;
  std::optional<Query> m_own;
  bool m_shared = false;  ///< m_query is the thread's storage
  bool m_outermost;
};
}  // namespace detail

/// A target that runs builders itself rather than as one statement: a shard
/// group routes a keyed builder to the member owning the key, and plans, fans
/// out and merges the rest (plexus/shard/shard_group.hpp). QueryBuilder asks
/// its target for one through Queryable::planning_target().
class PlanningTarget {
 public:
  virtual ~PlanningTarget() = default;
  /// The one target every row `q` reads lives on (its where pins the key), or null.
  [[nodiscard]] virtual SingleTarget* single(const QueryBuilder& q) = 0;
  /// Runs a read across the members and merges it; refuses what it cannot answer exactly.
  [[nodiscard]] virtual Result get(const QueryBuilder& q) = 0;
  /// The same, streamed: the members' rows merged as they are read.
  [[nodiscard]] virtual Cursor cursor(const QueryBuilder& q) = 0;
  /// The target holding `row` (an insert). @throws UsageError without the key.
  [[nodiscard]] virtual SingleTarget& owner(const QueryBuilder& q, const Fields& row) = 0;
  /// A column an insert of `row` into `q`'s table lacks and the target
  /// generates (a global id), with its new value; nullopt when none.
  [[nodiscard]] virtual std::optional<std::pair<std::string, Value>> generated(const QueryBuilder& q, const Fields& row) = 0;
  /// An update of `q` whose `set` changes the shard key: moves the matching
  /// rows to the new key's member (deleted where they are, inserted there,
  /// in one commit across both) and returns how many; nullopt when `set`
  /// leaves the shard key alone.
  [[nodiscard]] virtual std::optional<std::uint64_t> move(const QueryBuilder& q, const Fields& set) = 0;
  /// The targets an update (`set`: its fields) or delete (`set` null) of `q`
  /// runs on: the key's owner, or every member when asked for explicitly.
  /// @throws UsageError otherwise, or when `set` changes the shard key.
  [[nodiscard]] virtual std::vector<SingleTarget*> writers(const QueryBuilder& q, const Fields* set, std::string_view what) = 0;
  /// A write this target routed to one member was refused there with `e`:
  /// whether to route it again (`attempt` counts from 0). A shard group says
  /// yes when an online reshard sealed that member because its rows moved
  /// (it reads its layout anew first), so the write goes to the new place.
  [[nodiscard]] virtual bool reroute(const Error& e, int attempt) {
    (void)e;
    (void)attempt;
    return false;
  }
};

/// A SELECT, UPDATE, DELETE or INSERT on one table, built by chained calls.
/// A builder is a value, like a std::string: one thread uses it at a time,
/// to_sql() and prepare() included (they may build its parts); copy it to
/// hand it to another thread. What it compiles to is shared per thread.
class QueryBuilder {
 public:
  /// A builder for `table` that is only compiled (to_sql with a dialect).
  explicit QueryBuilder(std::string table);
  /// A builder that runs on `target` (a Connection or a Transaction), which
  /// must outlive it.
  QueryBuilder(Queryable& target, std::string_view table);
  /// The same for a table checked when it was made (kept by reference: it
  /// must outlive the builder, as a FixedColumns list must).
  QueryBuilder(Queryable& target, const FixedTable& table);
  /// The same selecting a fixed list: `QueryBuilder(target, table).select(columns)`
  /// in one step (what every query of a model starts from).
  QueryBuilder(Queryable& target, const FixedTable& table, const FixedColumns& columns);
  /// A builder that runs on a target it keeps alive (conn.on_primary().table()
  /// keeps its routed view, so the builder can be stored).
  QueryBuilder(std::shared_ptr<Queryable> target, std::string table);

  // ---- select ----
  QueryBuilder& select(std::initializer_list<Expr> columns);
  /// select({"id", "name"}): names written in the call, each checked and kept once.
  QueryBuilder& select(std::initializer_list<const char*> columns);
  QueryBuilder& select(std::span<const Expr> columns);
  /// Selects a list made once (kept by reference: it must outlive the builder).
  QueryBuilder& select(const FixedColumns& columns);
  QueryBuilder& add_select(Expr column);
  QueryBuilder& distinct(bool on = true);

  // ---- where ----
  /// column = value ('=' is the first of the operators a builder records)
  QueryBuilder& where(std::string_view column, Value value) { return add_basic(column, 0, std::move(value), false); }
  /// column <op> value; op is one of = <> != < <= > >= like, not like, ilike.
  QueryBuilder& where(std::string_view column, std::string_view op, Value value);
  /// A parenthesised group: where([](QueryBuilder& q){ q.where(…).or_where(…); })
  QueryBuilder& where(const std::function<void(QueryBuilder&)>& group);
  QueryBuilder& or_where(std::string_view column, Value value);
  QueryBuilder& or_where(std::string_view column, std::string_view op, Value value);
  QueryBuilder& or_where(const std::function<void(QueryBuilder&)>& group);
  QueryBuilder& where_in(std::string_view column, std::vector<Value> values);
  QueryBuilder& where_in(std::string_view column, std::initializer_list<Value> values) {
    return where_in(column, std::vector<Value>(values));
  }
  QueryBuilder& where_not_in(std::string_view column, std::initializer_list<Value> values) {
    return where_not_in(column, std::vector<Value>(values));
  }
  QueryBuilder& or_where_in(std::string_view column, std::initializer_list<Value> values) {
    return or_where_in(column, std::vector<Value>(values));
  }
  QueryBuilder& where_in(std::string_view column, const QueryBuilder& subquery);
  QueryBuilder& where_not_in(std::string_view column, std::vector<Value> values);
  QueryBuilder& where_not_in(std::string_view column, const QueryBuilder& subquery);
  QueryBuilder& or_where_in(std::string_view column, std::vector<Value> values);
  QueryBuilder& where_null(std::string_view column);
  QueryBuilder& where_not_null(std::string_view column);
  QueryBuilder& or_where_null(std::string_view column);
  QueryBuilder& where_between(std::string_view column, Value low, Value high);
  QueryBuilder& where_not_between(std::string_view column, Value low, Value high);
  QueryBuilder& where_like(std::string_view column, Value pattern) { return where(column, "like", std::move(pattern)); }
  QueryBuilder& where_raw(std::string sql, std::vector<Value> bindings = {});
  QueryBuilder& or_where_raw(std::string sql, std::vector<Value> bindings = {});
  /// where(raw("CONCAT(id, '-', user_id) LIKE ?", {x})) as in the seed.
  QueryBuilder& where(Raw r) { return where_raw(std::move(r.sql), std::move(r.bindings)); }

  // ---- joins, grouping, order, paging ----
  QueryBuilder& join(std::string_view table, std::string_view first, std::string_view op, std::string_view second);
  QueryBuilder& left_join(std::string_view table, std::string_view first, std::string_view op, std::string_view second);
  QueryBuilder& right_join(std::string_view table, std::string_view first, std::string_view op, std::string_view second);
  QueryBuilder& cross_join(std::string_view table);
  QueryBuilder& group_by(std::initializer_list<std::string_view> columns);
  QueryBuilder& having(std::string_view column, std::string_view op, Value value);
  QueryBuilder& having_raw(std::string sql, std::vector<Value> bindings = {});
  /// direction "asc" or "desc" (any case).
  QueryBuilder& order_by(std::string_view column, std::string_view direction = "asc");
  QueryBuilder& order_by_desc(std::string_view column) { return order_by(column, "desc"); }
  QueryBuilder& order_by_raw(std::string sql, std::vector<Value> bindings = {});
  /// At most `n` rows / skip the first `n`. @throws UsageError for a
  /// negative `n` (an unsigned count wrapped round is refused the same way).
  QueryBuilder& limit(std::int64_t n);
  QueryBuilder& offset(std::int64_t n);
  /// Removes order, limit and offset (for counts).
  QueryBuilder& reorder();
  /// Says that an update(), increment() or remove() without where() is meant
  /// to touch every row; without it such a call is a UsageError.
  QueryBuilder& all_rows();

  // ---- compile ----
  /// SELECT for the bound connection's dialect. @throws UsageError if unbound.
  [[nodiscard]] Query to_sql() const;
  [[nodiscard]] Query to_sql(const Grammar& g) const;
  [[nodiscard]] Query to_sql(std::string_view dialect) const { return to_sql(grammar_for(dialect)); }
  [[nodiscard]] Query insert_sql(const Grammar& g, const std::vector<Fields>& rows,
                                 std::span<const std::string> returning = {}) const;
  [[nodiscard]] Query update_sql(const Grammar& g, const Fields& fields) const;
  [[nodiscard]] Query delete_sql(const Grammar& g) const;
  [[nodiscard]] Query upsert_sql(const Grammar& g, const std::vector<Fields>& rows,
                                 std::span<const std::string> unique_by, std::span<const std::string> update) const;
  [[nodiscard]] Query increment_sql(const Grammar& g, std::string_view column, std::int64_t by = 1,
                                    const Fields& also = {}) const;
  [[nodiscard]] Query aggregate_sql(const Grammar& g, std::string_view function, std::string_view column) const;

  // ---- run (bound builders only) ----
  [[nodiscard]] Result get();
  /// The rows as T, read straight from the driver (see Queryable::select_as):
  /// `conn.table("items").select({"id", "name"}).get_as<std::tuple<int64_t, std::string>>()`.
  template <ReadableRow T>
  [[nodiscard]] std::vector<T> get_as() {
    auto [t, scatter] = route("run");
    if (scatter) return read_rows<T>(scatter->get(*this), static_cast<std::size_t>(-1));
    detail::CallSql call;
    const Statement s = statement(t->grammar(), call, false);
    return t->select_as<T>(s.sql, s.values);
  }
  [[nodiscard]] std::optional<Record> first();
  /// The first row as T, or nullopt, read straight from the driver:
  /// `auto u = conn.table("users").where("id", 7).first_as<User>();`
  template <ReadableRow T>
  [[nodiscard]] std::optional<T> first_as() {
    auto [t, scatter] = route("run");
    if (scatter) {
      QueryBuilder one = *this;
      one.limit(1);
      auto rows = read_rows<T>(scatter->get(one), 1);
      if (rows.empty()) return std::nullopt;
      return std::optional<T>(std::move(rows.front()));
    }
    detail::CallSql call;
    const Statement s = statement(t->grammar(), call, true);
    return t->select_one_as<T>(s.sql, s.values);
  }
  /// Hands each row of this read to `fn(Row)` as it is read, without building
  /// a Result (see Queryable::select_each: the Row is valid during the call,
  /// `fn` may return false to stop). With `first_only` the LIMIT 1 form runs,
  /// the builder left as it was. Returns the number of rows handed over.
  template <class F>
  std::uint64_t each(F&& fn, bool first_only = false) {
    return each_row(RowVisitor(fn), first_only);
  }
  /// Compiles this read once for its target's dialect; run it with new values
  /// through the returned PreparedQuery. @throws UsageError when unbound.
  [[nodiscard]] PreparedQuery prepare() const;
  /// First row's `column`, or null.
  [[nodiscard]] Value value(std::string_view column);
  [[nodiscard]] Cursor cursor();
  [[nodiscard]] std::int64_t count(std::string_view column = "*");
  [[nodiscard]] Value sum(std::string_view column) { return aggregate("SUM", column); }
  [[nodiscard]] Value avg(std::string_view column) { return aggregate("AVG", column); }
  [[nodiscard]] Value min(std::string_view column) { return aggregate("MIN", column); }
  [[nodiscard]] Value max(std::string_view column) { return aggregate("MAX", column); }
  [[nodiscard]] bool exists();
  /// Page `page` (1-based) of `per_page` rows, with the total count.
  [[nodiscard]] Page paginate(std::uint64_t page, std::uint64_t per_page = 15);
  /// Calls fn with `size` rows at a time (needs order_by); fn returns false to stop.
  void chunk(std::uint64_t size, const std::function<bool(const Result&)>& fn);

  Result insert(const Fields& row);
  /// Inserts and returns the new row's id (RETURNING or the engine's last insert id).
  std::int64_t insert_get_id(const Fields& row, std::string_view id_column = "id");
  /// Multi-row INSERTs, split to stay within the engine's parameter limit;
  /// several statements run in one transaction. Returns rows inserted.
  std::uint64_t insert_many(const std::vector<Fields>& rows);
  /// UPDATE with the builder's where clauses (all_rows() for none). Returns affected rows.
  std::uint64_t update(const Fields& fields);
  /// column = column + by
  std::uint64_t increment(std::string_view column, std::int64_t by = 1, const Fields& also = {});
  /// DELETE with the builder's where clauses (all_rows() for none). Returns affected rows.
  std::uint64_t remove();
  /// INSERT … ON CONFLICT (unique_by) DO UPDATE SET update… (ON DUPLICATE KEY UPDATE on MySQL).
  std::uint64_t upsert(const std::vector<Fields>& rows, std::vector<std::string> unique_by,
                       std::vector<std::string> update);

  [[nodiscard]] const std::string& table() const { return m_table.get(m_recording); }
  [[nodiscard]] Queryable* target() const noexcept { return m_target; }
  /// The dialect this builder compiles to when run.
  [[nodiscard]] const Grammar& grammar() const;

  using Condition = QuerySpec::Condition;
  using Conditions = QuerySpec::Conditions;

  /// The spec this builder has filled (its calls replayed into it first, if
  /// it recorded them): what the compiler and a shard group's planner read.
  [[nodiscard]] const QuerySpec& spec() const { return parts(); }
  /// The same, to change (a planner's per-member builder).
  [[nodiscard]] QuerySpec& spec() { return parts(); }
  /// The form the table's name was found in when it was checked.
  [[nodiscard]] NameForm table_form() const noexcept { return m_table_form; }

  /// The same query on another target `t` (a member of a group, a
  /// transaction), which must outlive the copy.
  [[nodiscard]] QueryBuilder on(Queryable& t) const;

 private:
  /// Where this builder runs: one target, or a runner that fans out (exactly one is set).
  [[nodiscard, gnu::always_inline]] std::pair<SingleTarget*, PlanningTarget*> route(std::string_view what) const {
    Queryable& t = require_target(what);
    PlanningTarget* runner = t.planning_target();
    if (!runner) [[likely]]
      return {static_cast<SingleTarget*>(&t), nullptr};  // what no group plans is one database
    return route_by(*runner);
  }
  /// route() for a target that runs builders itself: the one member it names, or the runner.
  [[nodiscard]] std::pair<SingleTarget*, PlanningTarget*> route_by(PlanningTarget& runner) const;
  template <class T>
  static std::vector<T> read_rows(const Result& r, std::size_t most) {
    std::vector<T> out;
    if (r.empty()) return out;
    const RowReader<T> reader(r.columns());
    out.reserve(std::min(r.size(), most));
    for (Row row : r) {
      if (out.size() >= most) break;
      if constexpr (ReadsInPlace<T>) reader.read_into(row, out.emplace_back());
      else out.push_back(reader.read(row));
    }
    return out;
  }

  QueryBuilder& add_condition(Condition c);
  QueryBuilder& add_join(std::string type, std::string_view table, std::string_view first, std::string_view op,
                         std::string_view second);
  Value aggregate(std::string_view function, std::string_view column);
  std::uint64_t each_row(const RowVisitor& visit, bool first_only);
  /// each_row() on a runner that fans out: its merged rows.
  std::uint64_t each_row_merged(PlanningTarget& runner, const RowVisitor& visit, bool first_only);
  /// Writes what the SQL of this builder's parts depends on (everything but
  /// the values) to `key` and the values, in the order the SQL binds them, to
  /// `values`; false for a part a shape does not describe (raw SQL, joins,
  /// groups, subqueries). The key of a builder whose recording is still on is the recording.
  class ShapeKey;
  bool shape(ShapeKey& key, std::vector<Value>& values, bool first) const;
  Queryable& require_target(std::string_view what) const {
    if (!m_target) [[unlikely]]
      refuse_unbound(what);
    return *m_target;
  }
  /// The target of a builder whose target plans nothing (checked before): one database.
  SingleTarget& require_single(std::string_view what) const { return *require_target(what).as_single(); }
  /// @throws UsageError: the builder has no connection to `what` on.
  [[noreturn]] void refuse_unbound(std::string_view what) const;

  using Parts = QuerySpec;
  /// The calls that built this builder, recorded instead of applied while
  /// each is one it can record (names and operators as bytes, values in the
  /// order the SQL binds them): the bytes are the builder's shape, so a read
  /// finds its compiled SQL without building the parts at all. The first
  /// call it cannot record replays it into the parts and turns it off.
  class Recording {
   public:
    [[nodiscard]] bool on() const noexcept { return m_on; }
    [[nodiscard]] std::string_view bytes() const noexcept { return {m_buf, m_size}; }
    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    /// Room for `n` more bytes (false: the builder goes to its parts instead).
    [[nodiscard]] bool room(std::size_t n) const noexcept { return m_size + n <= sizeof m_buf; }
    void put(char c) noexcept { m_buf[m_size++] = c; }
    void put_name(std::string_view name) noexcept;  // after room(name.size() + 1); name.size() < 256
    /// Puts a plain name (a letter or _, then letters, digits and _; at most
    /// 128), checking it as it is copied: false, and nothing put, for any
    /// other form or when it does not fit. The C string form stops at its NUL.
    [[nodiscard]] bool put_plain(std::string_view name) noexcept;
    [[nodiscard]] bool put_plain(const char* name) noexcept;
    void put_number(std::uint64_t n) noexcept;      // after room(8)
    /// Takes `n` more bytes (after room(n)) and returns where they start: an
    /// entry of known size is written through the pointer, its size counted once.
    [[nodiscard]] char* grow(std::size_t n) noexcept {
      char* at = m_buf + m_size;
      m_size = static_cast<std::uint8_t>(m_size + n);
      return at;
    }
    static constexpr std::size_t capacity = 120;
    /// Removes the last `n` bytes put (a lookup's suffix).
    void drop(std::size_t n) noexcept { m_size = static_cast<std::uint8_t>(m_size - n); }
    void off() noexcept {
      m_on = false;
      m_size = 0;
      values.clear();
    }
    detail::SmallVector<Value, 2> values;

   private:
    char m_buf[capacity];
    std::uint8_t m_size = 0;
    bool m_on = true;
  };
  /// Writes the recording entry of `columns` at `at` (its size taken by Recording::grow()).
  static void write_fixed_entry(char* at, const FixedColumns& columns) noexcept;
  /// The parts, after replaying what the recording holds (const: a builder is
  /// used by one thread at a time, as any builder).
  Parts& parts() const;
  /// Replays the recording into the parts and turns it off.
  void materialize() const;
  /// A compiled read ready to run: its SQL and values, in the shape cache or a call's storage.
  struct Statement {
    std::string_view sql;
    std::span<const Value> values;
  };
  /// This SELECT (with LIMIT 1 when `first`) for `g`, looked up by shape when it can be.
  [[nodiscard]] Statement statement(const Grammar& g, detail::CallSql& into, bool first);
  /// statement() for a shape not found by its recording: looked up by its parts, or compiled and kept.
  [[nodiscard]] Statement compile_statement(const Grammar& g, detail::CallSql& into, bool first);
  // The structured forms of the calls the recording records (the recording replays through them).
  void apply_select(std::span<const std::string_view> names, bool add) const;
  void apply_basic(std::string_view column, NameForm form, std::string_view op, Value value, bool use_or) const;
  void apply_in(std::string_view column, NameForm form, std::vector<Value> values, bool negated, bool use_or) const;
  void apply_null(std::string_view column, NameForm form, bool negated, bool use_or) const;
  void apply_between(std::string_view column, NameForm form, Value low, Value high, bool negated) const;
  void apply_order(std::string_view column, bool desc) const;
  // The calls the recording records: to it while it is on and has room, else to the parts.
  /// Puts the table at the start of the recording (or builds parts for a name too
  /// long for it); `owned`: m_table holds `name` already, else it is copied or
  /// left in the recording.
  void record_table(std::string_view name, bool owned);
  /// The table's name without a copy.
  [[nodiscard]] std::string_view table_view() const noexcept { return m_table.view(m_recording); }
  /// The same for a table checked when it was made (`form`).
  void record_table(NameForm form);
  /// Ends the entry begun at `mark` with `name`, checked (a bad name throws,
  /// the entry taken back); false, the entry taken back, when it does not fit.
  bool record_name(std::string_view name, std::size_t mark);
  /// record_name() for a name that is not plain, or did not fit as one.
  bool record_other_name(std::string_view name, std::size_t mark);
  /// True when a call of `need` bytes goes to the recording; else the recording is replayed first.
  bool records(std::size_t need);
  /// column <op> value; `op_index`: op's place among the canonical operators the recording records.
  QueryBuilder& add_basic(std::string_view column, std::size_t op_index, Value&& value, bool use_or);
  /// add_basic() for a condition the recording cannot take: straight to the parts.
  QueryBuilder& add_basic_to_parts(std::string_view column, std::size_t op_index, Value&& value, bool use_or);
  QueryBuilder& add_basic(std::string_view column, std::string_view op, Value&& value, bool use_or);
  QueryBuilder& add_null(std::string_view column, bool negated, bool use_or);
  QueryBuilder& add_in(std::string_view column, std::vector<Value>&& values, bool negated, bool use_or);
  QueryBuilder& add_between(std::string_view column, Value&& low, Value&& high, bool negated);

  /// The table's name: a FixedTable's, kept by reference (a model's builders
  /// copy no name); a plain name, read from the recording's first entry, where
  /// recording it put it (copied out only when asked for as a std::string,
  /// and before the recording is replayed); or the builder's own copy.
  class TableName {
   public:
    TableName() noexcept = default;
    explicit TableName(std::string&& own) noexcept : m_own(std::move(own)) {}
    explicit TableName(const FixedTable& fixed) noexcept : m_fixed(&fixed.name()) {}
    /// The name is the recording's first entry: 'T', its length, its `size` bytes.
    void in_recording(std::size_t size) noexcept { m_in_recording = static_cast<std::uint8_t>(size); }
    void own(std::string_view name) { m_own = name; }
    [[nodiscard]] std::string_view view(const Recording& j) const noexcept {
      if (m_fixed) return *m_fixed;
      if (m_in_recording) return {j.bytes().data() + 2, m_in_recording};
      return m_own;
    }
    [[nodiscard]] const std::string& get(const Recording& j) const {
      if (m_fixed) return *m_fixed;
      if (m_in_recording && m_own.empty()) m_own = view(j);
      return m_own;
    }
    /// Copies a name out of the recording (before the recording is cleared).
    void keep(const Recording& j) {
      (void)get(j);
      m_in_recording = 0;
    }

   private:
    mutable std::string m_own;
    const std::string* m_fixed = nullptr;
    std::uint8_t m_in_recording = 0;
  };

  std::shared_ptr<Queryable> m_keep;  ///< the target, when the builder keeps it
  Queryable* m_target = nullptr;
  mutable TableName m_table;
  NameForm m_table_form = NameForm::other;
  mutable Recording m_recording;
  mutable detail::OnDemand<Parts> m_parts;  ///< the parts on the heap: made exactly when the recording is off (replayed)
};

}  // namespace plexus

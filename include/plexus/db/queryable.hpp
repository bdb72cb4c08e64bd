// The query API shared by a Connection and a Transaction.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <functional>
#include <initializer_list>
#include <new>
#include <optional>
#include <string>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "plexus/core/result.hpp"
#include "plexus/db/events.hpp"
#include "plexus/db/statement.hpp"

namespace plexus {

class QueryBuilder;
class PlanningTarget;
class SingleTarget;
class Grammar;

/// Bound parameters for one call: `conn.select("… where id = ?", {42})`, a
/// std::vector<Value> or a span. Values in braces are copied in (up to four
/// without an allocation), so `Params p = {1, 2}; conn.select(sql, p);` is
/// safe; a vector or span is borrowed and must outlive the call.
class Params {
 public:
  Params() noexcept = default;
  Params(std::initializer_list<Value> il) {
    if (il.size() <= kInline) {
      // Only as many values as given are constructed: a call with one key
      // copies one Value.
      for (const Value& v : il) new (slot(m_size++)) Value(v);
      m_values = std::span<const Value>(slot(0), m_size);
    } else {
      m_heap.assign(il.begin(), il.end());
      m_values = m_heap;
    }
  }
  Params(std::span<const Value> s) noexcept : m_values(s) {}
  Params(const std::vector<Value>& v) noexcept : m_values(v) {}
  Params(const Params& o) : m_heap(o.m_heap) {
    for (; m_size < o.m_size; ++m_size) new (slot(m_size)) Value(*o.slot(m_size));
    m_values = o.rebase(*this);
  }
  Params& operator=(const Params& o) {
    if (this != &o) {
      Params copy(o);
      clear();
      m_heap = std::move(copy.m_heap);
      for (; m_size < copy.m_size; ++m_size) new (slot(m_size)) Value(std::move(*copy.slot(m_size)));
      m_values = copy.rebase(*this);
    }
    return *this;
  }
  ~Params() { clear(); }
  [[nodiscard]] std::span<const Value> span() const noexcept { return m_values; }

 private:
  static constexpr std::size_t kInline = 4;
  Value* slot(std::size_t i) noexcept { return std::launder(reinterpret_cast<Value*>(m_buf) + i); }
  const Value* slot(std::size_t i) const noexcept { return std::launder(reinterpret_cast<const Value*>(m_buf) + i); }
  void clear() noexcept {
    for (std::size_t i = 0; i < m_size; ++i) slot(i)->~Value();
    m_size = 0;
  }
  /// This object's view moved onto `to`'s copies of its storage.
  [[nodiscard]] std::span<const Value> rebase(const Params& to) const noexcept {
    if (m_size) return {to.slot(0), m_size};
    if (!m_heap.empty() && m_values.data() == m_heap.data()) return to.m_heap;
    return m_values;  // borrowed
  }
  alignas(Value) unsigned char m_buf[kInline * sizeof(Value)];
  std::size_t m_size = 0;  // values held inline
  std::vector<Value> m_heap;
  std::span<const Value> m_values;
};

/// How select_as<T> turns rows into T: constructed once per query with the
/// result's columns, then read() per row. Provided for std::tuple (by
/// position), for types with a static `T from_row(Row)`, and for models
/// (orm/model.hpp, by column name); specialise it for your own types.
template <class T>
struct RowReader;

template <class T>
concept ReadableRow = requires(const Columns& c, Row r) { RowReader<T>(c).read(r); };

/// A reader that can also fill a T in place (`void read_into(Row, T&) const`),
/// so typed reads construct each T where it is kept.
template <class T>
concept ReadsInPlace = requires(const RowReader<T>& rd, Row r, T& out) { rd.read_into(r, out); };

template <class T>
  requires requires(Row r) {
    { T::from_row(r) } -> std::convertible_to<T>;
  }
struct RowReader<T> {
  explicit RowReader(const Columns&) noexcept {}
  T read(Row row) const { return T::from_row(row); }
};

template <class... Ts>
struct RowReader<std::tuple<Ts...>> {
  /// Each column read with read_cell() (a tuple of default-constructible types).
  static constexpr bool reads_cells = (std::is_default_constructible_v<Ts> && ...);
  explicit RowReader(const Columns&) noexcept {}
  std::tuple<Ts...> read(Row row) const { return read(row, std::index_sequence_for<Ts...>{}); }

 private:
  template <class F>
  static F cell(Row row, std::size_t i) {
    if constexpr (reads_cells) {
      F out{};
      read_cell(row, i, out);
      return out;
    } else {
      return row[i].template as<F>();
    }
  }
  template <std::size_t... I>
  static std::tuple<Ts...> read(Row row, std::index_sequence<I...>) {
    return std::tuple<Ts...>(cell<Ts>(row, I)...);  // a row too short: the Row's out-of-range error
  }
};

/// A reader that reads every column through read_cell() (it declares
/// `static constexpr bool reads_cells = true`): its rows may come straight
/// from the engine's column source, without Values.
template <class T>
concept ReadsCells = requires { requires RowReader<T>::reads_cells; };

/// The visitor a typed read of T hands its rows to.
template <class T, class F>
RowVisitor typed_visitor(F& take) noexcept {
  if constexpr (ReadsCells<T>) return RowVisitor(take, RowVisitor::cells);
  else return RowVisitor(take);
}

/// Anything that runs SQL: a Connection, a RoutedConnection or a Transaction
/// (each a SingleTarget, one database) or a shard group (which plans a
/// statement over its members). Raw SQL, cursors, scripts and builders run
/// on every kind; what only one database can do is on SingleTarget.
class Queryable {
 public:
  virtual ~Queryable() = default;

  /// Runs a read. On a connection with replicas it goes to a replica.
  /// @throws plexus::Error (with connection, host and role).
  [[nodiscard]] Result select(std::string_view sql, Params params = {}) {
    return run_query(sql, params.span(), Intent::read);
  }
  /// Runs a write (INSERT, UPDATE, DELETE, DDL) on the primary.
  Result execute(std::string_view sql, Params params = {}) { return run_query(sql, params.span(), Intent::write); }
  /// Raw SQL with the intent said at the call, the seed's `db.query(sql,
  /// params, isRead)`: Intent::read may go to a replica, Intent::write goes
  /// to the primary. (select() and execute() say it by their names.)
  Result query(std::string_view sql, Params params, Intent intent) { return run_query(sql, params.span(), intent); }
  /// First column of the first row (null when there are no rows).
  [[nodiscard]] Value scalar(std::string_view sql, Params params = {}, Intent intent = Intent::read);
  /// Runs a read and hands each row to `fn(Row)` as it is read, without
  /// building a Result (the Row is valid during the call). `fn` may return
  /// bool: false stops the read after that row (the rest are not read).
  /// Returns the number of rows handed over. `fn` must not query this
  /// connection or transaction: the session is busy until the rows are read.
  /// The same for values already in a span and a visitor already made (no
  /// copy of the values): what compiled builder and model reads run.
  std::uint64_t select_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
    return run_each(sql, params, Intent::read, visit);
  }
  std::uint64_t select_each(std::string_view sql, std::span<const Value> params, RowVisitor&& visit) {
    return run_each(sql, params, Intent::read, visit);
  }
  template <class F>
  std::uint64_t select_each(std::string_view sql, Params params, F&& fn) {
    if constexpr (std::is_same_v<std::remove_cvref_t<F>, RowVisitor>) return run_each(sql, params.span(), Intent::read, fn);
    else return run_each(sql, params.span(), Intent::read, RowVisitor(fn));
  }
  /// Runs a read into a vector of T, row by row, without a Result in between:
  /// `auto items = conn.select_as<std::tuple<int64_t, std::string>>("SELECT id, name FROM items");`
  /// T is a std::tuple, a type with `static T from_row(Row)`, a model struct,
  /// or any T with a RowReader<T> specialisation.
  template <ReadableRow T>
  [[nodiscard]] std::vector<T> select_as(std::string_view sql, Params params = {}) {
    std::vector<T> out;
    std::optional<RowReader<T>> reader;
    auto take = [&](Row row) {
      if (!reader) [[unlikely]] reader.emplace(row.columns());
      if constexpr (ReadsInPlace<T>) reader->read_into(row, out.emplace_back());
      else out.push_back(reader->read(row));
    };
    run_each(sql, params.span(), Intent::read, typed_visitor<T>(take).collecting_into(out));
    return out;
  }
  /// The first row of a read as T, or nullopt when there is none; the read
  /// stops after that row: `conn.select_one_as<Item>("SELECT … WHERE id = ?", {7})`.
  template <ReadableRow T>
  [[nodiscard]] std::optional<T> select_one_as(std::string_view sql, Params params = {}) {
    std::optional<T> out;
    auto take = [&](Row row) {
      const RowReader<T> reader(row.columns());
      if constexpr (ReadsInPlace<T>) reader.read_into(row, out.emplace());
      else out.emplace(reader.read(row));
      return false;
    };
    run_each(sql, params.span(), Intent::read, typed_visitor<T>(take));
    return out;
  }
  /// Streams the rows of a query without holding them all in memory.
  [[nodiscard]] Cursor cursor(std::string_view sql, Params params = {}, Intent intent = Intent::read) {
    std::optional<Cursor> out;
    run(Statement{.kind = Statement::Kind::cursor, .sql = sql, .params = params.span(), .intent = intent, .cursor = &out});
    return std::move(out).value();
  }

  /// Runs a script: several `;`-separated statements without parameters
  /// (a schema file, fixtures), split by the engine's own parser, on the
  /// primary. Rows that statements return are dropped. Returns the rows
  /// changed. On SQLite and PostgreSQL the script is atomic (all or nothing);
  /// on MySQL/MariaDB each statement commits on its own and DDL cannot be
  /// rolled back, so the statements before a failure stay. Every other call
  /// runs exactly one statement.
  std::uint64_t execute_script(std::string_view sql) {
    return run(Statement{.kind = Statement::Kind::script, .sql = sql, .intent = Intent::write});
  }

  /// A query builder on `table` that runs here: `conn.table("users").where("id", 1).first()`.
  /// @throws UsageError for an invalid table name.
  [[nodiscard]] QueryBuilder table(std::string_view name);
  /// A target that runs builders itself (a shard group), or null: builders
  /// then compile to one statement and run here.
  [[nodiscard]] PlanningTarget* planning_target() const noexcept { return m_planner; }
  /// This target as one database (a connection, a routed view of one, a
  /// transaction), or null for a shard group.
  [[nodiscard]] SingleTarget* as_single() noexcept;

 protected:
  Queryable() noexcept = default;
  /// A target whose builders `planner` runs (a shard group).
  explicit Queryable(PlanningTarget& planner) noexcept : m_planner(&planner) {}
  Queryable(const Queryable&) noexcept = default;
  Queryable& operator=(const Queryable&) noexcept = default;

  /// Runs `s`: the one entry point every call above becomes (a Connection
  /// routes it, a Transaction runs it on its session, a shard group plans
  /// it). Returns the rows an `each` handed over or a script changed; 0 for
  /// the other kinds, whose output goes where the statement points.
  virtual std::uint64_t run(const Statement& s) = 0;

 private:
  Result run_query(std::string_view sql, std::span<const Value> params, Intent intent) {
    Result out;
    run(Statement{.kind = Statement::Kind::query, .sql = sql, .params = params, .intent = intent, .result = &out});
    return out;
  }
  std::uint64_t run_each(std::string_view sql, std::span<const Value> params, Intent intent, const RowVisitor& visit) {
    return run(Statement{.kind = Statement::Kind::each, .sql = sql, .params = params, .intent = intent, .visit = &visit});
  }

  PlanningTarget* m_planner = nullptr;
};

/// A target that is one database: a Connection, a RoutedConnection or a
/// Transaction. It has one engine and one dialect, and runs batches, keyed
/// inserts and transactions. A shard group is a Queryable but not one of
/// these: it has several engines, and a transaction or batch belongs on a
/// member (`group.shard(key)`) or across members (`db.transaction`).
class SingleTarget : public Queryable {
 public:
  /// Runs one read once per parameter set and returns one Result per set, in
  /// order: `conn.select_batch("SELECT … WHERE id = ?", {{1}, {2}, {3}})`.
  /// PostgreSQL sends the whole batch in one round trip (pipeline mode, in
  /// chunks); other engines run it back to back on one session. Routed like select().
  [[nodiscard]] std::vector<Result> select_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
    return run_batch(sql, sets, Intent::read);
  }
  [[nodiscard]] std::vector<Result> select_batch(std::string_view sql,
                                                 std::initializer_list<std::vector<Value>> sets) {
    return run_batch(sql, std::span<const std::vector<Value>>(sets.begin(), sets.size()), Intent::read);
  }
  /// The same for a write, on the primary. On a Connection the whole batch is
  /// one transaction (all or nothing); inside a Transaction it joins it.
  std::vector<Result> execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
    return run_batch(sql, sets, Intent::write);
  }
  std::vector<Result> execute_batch(std::string_view sql, std::initializer_list<std::vector<Value>> sets) {
    return run_batch(sql, std::span<const std::vector<Value>>(sets.begin(), sets.size()), Intent::write);
  }

  /// The canonical name of the engine this runs on ("sqlite", "postgres",
  /// "mysql"; what the configuration's `driver` key resolved to).
  [[nodiscard]] virtual const std::string& engine() const noexcept = 0;
  /// The SQL dialect of the engine this runs on (what builders compile to).
  [[nodiscard]] virtual const Grammar& grammar() const noexcept = 0;
  /// Runs a one-row INSERT whose generated key is wanted, in the form the
  /// session supports (see KeyedInsert); the Result's one row holds the key.
  Result insert_returning_key(const KeyedInsert& ins, Params params) {
    Result out;
    run(Statement{.kind = Statement::Kind::insert_key, .sql = ins.returning, .params = params.span(),
                  .intent = Intent::write, .result = &out, .key = &ins});
    return out;
  }
  /// Runs `fn` atomically: in a new transaction on a Connection, in a savepoint
  /// inside a Transaction.
  virtual void atomically(const std::function<void(SingleTarget&)>& fn) = 0;

 protected:
  SingleTarget() noexcept = default;
  SingleTarget(const SingleTarget&) noexcept = default;
  SingleTarget& operator=(const SingleTarget&) noexcept = default;

 private:
  std::vector<Result> run_batch(std::string_view sql, std::span<const std::vector<Value>> sets, Intent intent) {
    std::vector<Result> out;
    if (sets.empty()) return out;
    run(Statement{.kind = Statement::Kind::batch, .sql = sql, .params = sets.front(), .intent = intent,
                  .sets = sets, .results = &out});
    return out;
  }
};

inline SingleTarget* Queryable::as_single() noexcept {
  return m_planner ? nullptr : static_cast<SingleTarget*>(this);
}

}  // namespace plexus

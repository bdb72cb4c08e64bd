// The query API shared by a Connection and a Transaction.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "plexus/core/result.hpp"
#include "plexus/db/events.hpp"

namespace plexus {

class QueryBuilder;

/// Bound parameters, borrowed for the duration of one call:
/// `conn.select("… where id = ?", {42})` or a std::vector<Value>.
class Params {
 public:
  Params() = default;
  Params(std::initializer_list<Value> il) noexcept : m_values(il.begin(), il.size()) {}
  Params(std::span<const Value> s) noexcept : m_values(s) {}
  Params(const std::vector<Value>& v) noexcept : m_values(v) {}
  [[nodiscard]] std::span<const Value> span() const noexcept { return m_values; }

 private:
  std::span<const Value> m_values;
};

class Queryable {
 public:
  virtual ~Queryable() = default;

  /// Runs a read. On a connection with replicas it goes to a replica.
  /// @throws plexus::Error (with connection, host and role).
  Result select(std::string_view sql, Params params = {}) { return run(sql, params.span(), Intent::read); }
  /// Runs a write (INSERT, UPDATE, DELETE, DDL) on the primary.
  Result execute(std::string_view sql, Params params = {}) { return run(sql, params.span(), Intent::write); }
  /// Raw SQL with an explicit intent, the seed's `db.query(sql, params, isRead)`.
  /// Without an intent it is treated as a write, which is always safe.
  Result query(std::string_view sql, Params params = {}, Intent intent = Intent::write) {
    return run(sql, params.span(), intent);
  }
  /// First column of the first row (null when there are no rows).
  Value scalar(std::string_view sql, Params params = {}, Intent intent = Intent::read);
  /// Streams the rows of a query without holding them all in memory.
  Cursor cursor(std::string_view sql, Params params = {}, Intent intent = Intent::read) {
    return open_cursor(sql, params.span(), intent);
  }

  /// Runs one read once per parameter set and returns one Result per set, in
  /// order: `conn.select_batch("SELECT … WHERE id = ?", {{1}, {2}, {3}})`.
  /// PostgreSQL sends the whole batch in one round trip (pipeline mode, in
  /// chunks); other engines run it back to back on one session. Routed like select().
  std::vector<Result> select_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
    return run_batch(sql, sets, Intent::read);
  }
  std::vector<Result> select_batch(std::string_view sql, std::initializer_list<std::vector<Value>> sets) {
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

  /// A query builder on `table` that runs here: `conn.table("users").where("id", 1).first()`.
  /// @throws UsageError for an invalid table name.
  [[nodiscard]] QueryBuilder table(std::string_view name);
  /// Canonical driver name ("sqlite", "postgres", "mysql") of the database this runs on.
  [[nodiscard]] virtual const std::string& driver() const noexcept = 0;
  /// Runs `fn` atomically: in a new transaction on a Connection, in a savepoint
  /// inside a Transaction.
  virtual void atomically(const std::function<void(Queryable&)>& fn) = 0;

 protected:
  virtual Result run(std::string_view sql, std::span<const Value> params, Intent intent) = 0;
  virtual Cursor open_cursor(std::string_view sql, std::span<const Value> params, Intent intent) = 0;
  virtual std::vector<Result> run_batch(std::string_view sql, std::span<const std::vector<Value>> sets,
                                        Intent intent) = 0;
};

}  // namespace plexus

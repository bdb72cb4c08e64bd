#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <sqlite3.h>

#include "driver/statement_cache.hpp"
#include "plexus/driver/driver.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::engine::sqlite {

/// How to turn a column's storage value into a Value, decided once per
/// statement from the declared type.
enum class ColumnHint : unsigned char { plain, boolean, date, time, timestamp };

struct PreparedStatement {
  sqlite3_stmt* stmt = nullptr;
  Columns columns;
  std::vector<ColumnHint> hints;
  int parameters = 0;  // placeholders (fixed by the SQL text)
  // SQLITE_STMTSTATUS_REPREPARE when `columns` were read: a step that
  // re-prepares the statement (the schema changed) reads them again.
  int reprepares = 0;
  // For an INSERT whose generated key is read as the row id: its table and key
  // column, and SQLITE_STMTSTATUS_REPREPARE when that was found. The answer
  // holds until the statement is re-prepared (a schema change, by any
  // connection); execute() checks after each step and finds the key again.
  std::string row_id_table, row_id_column;
  int row_id_reprepares = -1;  // -1: not known to be a row id insert
};

class Session final : public driver::Session {
 public:
  Session(const driver::Target& target, std::string path);
  ~Session() override;

  Result execute(std::string_view sql, std::span<const Value> params) override;
  void interrupt() noexcept override { sqlite3_interrupt(m_db); }
  std::uint64_t execute_script(std::string_view sql) override;
  std::uint64_t execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) override;
  std::unique_ptr<RowSource> stream(std::string_view sql, std::span<const Value> params) override;
  [[nodiscard]] bool key_is_row_id(std::string_view table, std::string_view column, std::string_view plain) override;
  void begin() override;
  void begin(const driver::TransactionSpec& spec) override;
  void commit() override;
  void rollback() override;
  void ping() override;
  [[nodiscard]] bool healthy() const noexcept override { return m_db != nullptr; }
  [[nodiscard]] std::string server_version() override { return sqlite3_libversion(); }
  [[nodiscard]] std::string_view engine() const noexcept override { return "sqlite"; }

  sqlite3* handle() const noexcept { return m_db; }

 private:

  PreparedStatement& prepare_cached(std::string_view sql);
  /// Binds and steps `ps`, calling on_row() for each row until it returns
  /// false. When the first step re-prepared it (the schema changed since it
  /// was described, e.g. a column added under SELECT *), its columns are
  /// read again and on_columns() runs before any row. Resets; throws on failure.
  template <class OnRow, class OnColumns>
  void step_all(PreparedStatement& ps, std::string_view sql, std::span<const Value> params, OnRow&& on_row,
                OnColumns&& on_columns);
  void arm_deadline() noexcept;
  static int on_progress(void* self) noexcept;
  void exec_simple(const char* sql);
  /// Asks SQLite whether `column` is `table`'s row id alias (a probe statement).
  bool probe_row_id(std::string_view table, std::string_view column);
  /// After a row id insert whose statement was re-prepared: the key of the row
  /// just inserted, found again for the table as it is now.
  std::int64_t key_after_schema_change(std::string_view sql, PreparedStatement& ps);

  sqlite3* m_db = nullptr;
  std::chrono::milliseconds m_timeout{0};
  std::chrono::steady_clock::time_point m_deadline{};
  std::size_t m_cache_cap;
  detail::StatementCache<PreparedStatement> m_cache;
  std::vector<Value> m_row;  // execute_each's row buffer
  bool m_query_only = false;  // a read-only transaction is open (PRAGMA query_only until it ends)
  bool m_read_only = false;   // the connection itself is read_only
  void end_query_only();
};

/// Fills a PreparedStatement's column names and hints.
void describe_columns(sqlite3_stmt* stmt, PreparedStatement& out);
/// Binds `params` to the `expected` placeholders of `stmt` (a count mismatch is a UsageError).
/// `copy` = SQLITE_TRANSIENT, for statements that outlive params.
void bind_all(sqlite3* db, sqlite3_stmt* stmt, int expected, std::span<const Value> params, bool copy,
              std::string_view sql);
/// Reads column i of the current row.
Value read_column(sqlite3_stmt* stmt, int i, ColumnHint hint);
/// read_column into `out`, reusing the text storage it holds (for row buffers).
void read_column_into(sqlite3_stmt* stmt, int i, ColumnHint hint, Value& out);

}  // namespace plexus::engine::sqlite

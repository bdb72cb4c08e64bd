#include "drivers/sqlite/session.hpp"

#include <cmath>
#include <cstring>
#include <mutex>
#include <strings.h>

#include "drivers/sqlite/errors.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::sqlite {
namespace {

/// The sessions of this process set their files up one at a time. Switching
/// a new file to WAL locks it without SQLite's busy handler, so a statement
/// of another session on that file during the switch could fail at once with
/// "database is locked", whatever busy_timeout says (six fan-outs opening
/// their first sessions on fresh files did, about one run in thirty).
std::mutex g_setup;

/// sqlite3_prepare_v3, again while another connection is changing the
/// schema: SQLite reads the schema afresh once, and a second change in the
/// meantime fails the prepare with SQLITE_SCHEMA and a message ("no such
/// table") that is not true of the schema once the change is committed.
int prepare(sqlite3* db, const char* sql, int size, unsigned flags, sqlite3_stmt** stmt, const char** tail) {
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 8; ++attempt) {
    rc = sqlite3_prepare_v3(db, sql, size, flags, stmt, tail);
    if ((rc & 0xff) != SQLITE_SCHEMA) break;
  }
  return rc;
}

ColumnHint hint_for(const char* decl) {
  if (!decl) return ColumnHint::plain;
  if (!strcasecmp(decl, "BOOLEAN") || !strcasecmp(decl, "BOOL")) return ColumnHint::boolean;
  if (!strcasecmp(decl, "DATE")) return ColumnHint::date;
  if (!strcasecmp(decl, "TIME")) return ColumnHint::time;
  if (!strcasecmp(decl, "DATETIME") || !strcasecmp(decl, "TIMESTAMP")) return ColumnHint::timestamp;
  return ColumnHint::plain;
}

/// True when what follows a statement holds no other statement (only
/// blanks, `;` and comments), as SQLite's own parser sees it.
bool rest_is_blank(sqlite3* db, const char* p, const char* end) {
  while (p < end) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = prepare(db, p, static_cast<int>(end - p), 0, &stmt, &tail);
    if (stmt) sqlite3_finalize(stmt);
    if (rc != SQLITE_OK || stmt) return false;  // another statement, or a broken one
    if (!tail || tail <= p) return true;
    p = tail;
  }
  return true;
}

/// Reads the current row of `ps` into out[0 .. column count).
void read_row(const PreparedStatement& ps, Value* out) {
  const std::size_t n = ps.hints.size();
  for (std::size_t i = 0; i < n; ++i) read_column_into(ps.stmt, static_cast<int>(i), ps.hints[i], out[i]);
}

[[noreturn]] void refuse_several(std::string_view sql) {
  UsageError e("several statements in one call: a call runs one statement (nothing was run). Run them one by one, "
               "or as a script with execute_script() when they take no parameters");
  e.set_sql(sql);
  throw e;
}

/// A streamed statement: owns its own sqlite3_stmt, finalised at the end.
class Stream final : public RowSource {
 public:
  Stream(sqlite3* db, sqlite3_stmt* stmt, std::string sql) : m_db(db), m_sql(std::move(sql)) {
    m_ps.stmt = stmt;
    describe_columns(stmt, m_ps);
  }
  ~Stream() override { sqlite3_finalize(m_ps.stmt); }
  const Columns& columns() const override { return m_ps.columns; }
  bool next(std::vector<Value>& row) override {
    if (m_done) return false;
    int rc = sqlite3_step(m_ps.stmt);
    if (rc == SQLITE_DONE) {
      m_done = true;
      return false;
    }
    if (rc != SQLITE_ROW) throw_error(m_db, sqlite3_extended_errcode(m_db), m_sql);
    row.resize(m_ps.hints.size());
    read_row(m_ps, row.data());
    return true;
  }

 private:
  sqlite3* m_db;
  PreparedStatement m_ps;
  std::string m_sql;
  bool m_done = false;
};

}  // namespace

void describe_columns(sqlite3_stmt* stmt, PreparedStatement& out) {
  int n = sqlite3_column_count(stmt);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(n));
  out.hints.clear();
  for (int i = 0; i < n; ++i) {
    names.emplace_back(sqlite3_column_name(stmt, i));
    out.hints.push_back(hint_for(sqlite3_column_decltype(stmt, i)));
  }
  out.columns = Columns(std::move(names));
  out.parameters = sqlite3_bind_parameter_count(stmt);
  out.reprepares = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
}

// The rare ends of bind_all, out of line so that its loop keeps a small frame.
[[noreturn, gnu::cold, gnu::noinline]] void refuse_bind_count(int expected, std::size_t given, std::string_view sql) {
  throw UsageError("the statement has " + std::to_string(expected) + " placeholder(s) but " + std::to_string(given) +
                   " value(s) were bound: " + std::string(sql.substr(0, 200)));
}
[[noreturn, gnu::cold, gnu::noinline]] void refuse_nan(int idx) {
  throw UsageError("value " + std::to_string(idx) +
                   " is NaN, which SQLite cannot store (it would become NULL; nothing was run): bind NULL or a number");
}
[[gnu::noinline]] int bind_as_text(sqlite3_stmt* stmt, int idx, const Value& v) {
  const std::string s = v.to_string();  // date/time types are stored as ISO-8601 text
  return sqlite3_bind_text64(stmt, idx, s.data(), s.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

void bind_all(sqlite3* db, sqlite3_stmt* stmt, int expected, std::span<const Value> params, bool copy,
              std::string_view sql) {
  if (static_cast<std::size_t>(expected) != params.size()) refuse_bind_count(expected, params.size(), sql);
  auto lifetime = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
  for (int i = 0; i < expected; ++i) {
    const Value& v = params[static_cast<std::size_t>(i)];
    int idx = i + 1, rc = SQLITE_OK;
    switch (v.type()) {
      case Value::Type::null: rc = sqlite3_bind_null(stmt, idx); break;
      case Value::Type::boolean: rc = sqlite3_bind_int(stmt, idx, v.raw_bool() ? 1 : 0); break;
      case Value::Type::integer: rc = sqlite3_bind_int64(stmt, idx, v.raw_int()); break;
      case Value::Type::real:
        // SQLite stores NaN as NULL without a word: refuse it rather than store something else.
        if (std::isnan(v.raw_real())) refuse_nan(idx);
        rc = sqlite3_bind_double(stmt, idx, v.raw_real());
        break;
      case Value::Type::text:
        rc = sqlite3_bind_text64(stmt, idx, v.raw_text().data(), v.raw_text().size(), lifetime, SQLITE_UTF8);
        break;
      case Value::Type::bytes: {
        const auto& b = v.raw_bytes().data;
        rc = sqlite3_bind_blob64(stmt, idx, b.empty() ? "" : static_cast<const void*>(b.data()), b.size(), lifetime);
        break;
      }
      default: rc = bind_as_text(stmt, idx, v);  // date/time types
    }
    if (rc != SQLITE_OK) throw_error(db, rc, sql);
  }
}

Value read_column(sqlite3_stmt* stmt, int i, ColumnHint hint) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_NULL: return {};
    case SQLITE_INTEGER: {
      auto v = sqlite3_column_int64(stmt, i);
      if (hint == ColumnHint::boolean && (v == 0 || v == 1)) return Value(v == 1);
      return Value(v);
    }
    case SQLITE_FLOAT: return Value(sqlite3_column_double(stmt, i));
    case SQLITE_BLOB: {
      auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt, i));
      auto n = static_cast<std::size_t>(sqlite3_column_bytes(stmt, i));
      return Value(Bytes(std::vector<std::uint8_t>(p, p + n)));
    }
    default: {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      std::string_view s(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i)));
      try {
        switch (hint) {
          case ColumnHint::date: return Value(parse_date(s));
          case ColumnHint::time: return Value(parse_time(s));
          case ColumnHint::timestamp: return Value(parse_timestamp(s));
          default: break;
        }
      } catch (const ConversionError&) {
        // Not in ISO form: hand the text over unchanged rather than lose it.
      }
      return Value(std::string(s));
    }
  }
}

void read_column_into(sqlite3_stmt* stmt, int i, ColumnHint hint, Value& out) {
  if (hint == ColumnHint::plain) {  // the common types, written in place
    // One sqlite3_column_* call, then the value's own accessors: they skip the
    // per-call error bookkeeping of sqlite3_column_*. (SQLite calls such a
    // value unprotected: safe here, a session is used by one thread at a time
    // and is opened without SQLite's mutex.)
    sqlite3_value* v = sqlite3_column_value(stmt, i);
    switch (sqlite3_value_type(v)) {
      case SQLITE_INTEGER: out.set_int(sqlite3_value_int64(v)); return;
      case SQLITE_FLOAT: out.set_real(sqlite3_value_double(v)); return;
      case SQLITE_TEXT: {
        auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
        out.set_text(std::string_view(p, static_cast<std::size_t>(sqlite3_value_bytes(v))));
        return;
      }
      default: break;
    }
  }
  out = read_column(stmt, i, hint);
}

Session::Session(const driver::Target& target, std::string path) {
  const ConnectionConfig& cfg = target.config;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  int rc = sqlite3_open_v2(path.c_str(), &m_db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = m_db ? sqlite3_errmsg(m_db) : sqlite3_errstr(rc);
    sqlite3_close_v2(m_db);
    m_db = nullptr;
    throw ConnectionError("cannot open SQLite database '" + path + "': " + msg +
                              " (check that the directory exists and is writable)",
                          ConnectionFailure::refused);
  }
  sqlite3_extended_result_codes(m_db, 1);
  // A double-quoted name that is no column is an error, as on every other
  // engine: SQLite's legacy reading of it as a string would turn a typo in a
  // column name into a constant and answer quietly.
  sqlite3_db_config(m_db, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(m_db, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_busy_timeout(m_db, static_cast<int>(target.options.integer("busy_timeout")));
  m_timeout = cfg.query_timeout;
  if (m_timeout.count() > 0) sqlite3_progress_handler(m_db, 1000, &Session::on_progress, this);
  m_cache_cap = static_cast<std::size_t>(target.options.integer("statement_cache"));
  try {
    const std::lock_guard one_at_a_time(g_setup);
    exec_simple("PRAGMA foreign_keys = ON");
    bool memory = path == ":memory:" || path.empty() || path.find("mode=memory") != std::string::npos;
    if (!memory && !cfg.read_only) exec_simple("PRAGMA journal_mode = WAL");
    if (!memory) exec_simple("PRAGMA synchronous = NORMAL");
    if (cfg.read_only) exec_simple("PRAGMA query_only = 1");
    m_read_only = cfg.read_only;
  } catch (...) {
    sqlite3_close_v2(m_db);
    m_db = nullptr;
    throw;
  }
}

Session::~Session() {
  m_cache.each([](PreparedStatement& p) { sqlite3_finalize(p.stmt); });
  sqlite3_close_v2(m_db);
}

int Session::on_progress(void* self) noexcept {
  auto* s = static_cast<Session*>(self);
  return std::chrono::steady_clock::now() > s->m_deadline ? 1 : 0;  // 1 interrupts: SQLITE_INTERRUPT
}

void Session::arm_deadline() noexcept {
  if (m_timeout.count() > 0) m_deadline = std::chrono::steady_clock::now() + m_timeout;
}

void Session::exec_simple(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) throw_error(m_db, sqlite3_extended_errcode(m_db), sql);
}

PreparedStatement& Session::prepare_cached(std::string_view sql) {
  if (auto* hit = m_cache.find(sql)) return *hit;
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = prepare(m_db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) throw_error(m_db, sqlite3_extended_errcode(m_db), sql);
  if (!stmt) throw UsageError("empty SQL statement");
  if (tail && !rest_is_blank(m_db, tail, sql.data() + sql.size())) {
    sqlite3_finalize(stmt);
    refuse_several(sql);
  }
  if (m_cache.size() >= m_cache_cap) {
    // Simple, bounded eviction: drop every cached statement (streams use their own).
    m_cache.each([](PreparedStatement& p) { sqlite3_finalize(p.stmt); });
    m_cache.clear();
  }
  PreparedStatement p;
  p.stmt = stmt;
  describe_columns(stmt, p);
  return m_cache.insert(sql, std::move(p));
}

std::uint64_t Session::execute_script(std::string_view sql) {
  if (!m_db) throw ConnectionError("the SQLite handle is closed");
  const auto before = sqlite3_total_changes64(m_db);
  const char* p = sql.data();
  const char* end = sql.data() + sql.size();
  // All or nothing, inside a transaction or not: a savepoint around it.
  exec_simple("SAVEPOINT plexus_script");
  struct Undo {
    Session* s;
    bool armed = true;
    ~Undo() {
      if (!armed) return;
      try {
        s->exec_simple("ROLLBACK TO plexus_script");
        s->exec_simple("RELEASE plexus_script");
      } catch (const Error&) {
        // The script's own error is the one to report.
      }
    }
  } undo{this};
  arm_deadline();
  while (p < end) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = prepare(m_db, p, static_cast<int>(end - p), 0, &stmt, &tail);
    const std::string_view here(p, static_cast<std::size_t>((tail && tail > p ? tail : end) - p));
    if (rc != SQLITE_OK) throw_error(m_db, sqlite3_extended_errcode(m_db), here);
    if (stmt) {
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      }
      sqlite3_finalize(stmt);
      if (rc != SQLITE_DONE) throw_error(m_db, sqlite3_extended_errcode(m_db), here);
    }
    if (!tail || tail <= p) break;  // nothing consumed: the rest is blank
    p = tail;
  }
  undo.armed = false;
  exec_simple("RELEASE plexus_script");
  return static_cast<std::uint64_t>(sqlite3_total_changes64(m_db) - before);
}

template <class OnRow, class OnColumns>
void Session::step_all(PreparedStatement& ps, std::string_view sql, std::span<const Value> params, OnRow&& on_row,
                       OnColumns&& on_columns) {
  sqlite3_stmt* stmt = ps.stmt;
  // Every parameter is bound on every run (bind_all checks the count), so
  // resetting is enough; clearing the bindings too would cost a call per query.
  struct Reset {
    sqlite3_stmt* s;
    ~Reset() { sqlite3_reset(s); }
  } reset{stmt};
  bind_all(m_db, stmt, ps.parameters, params, false, sql);
  arm_deadline();
  int rc = sqlite3_step(stmt);
  if ((rc == SQLITE_ROW || rc == SQLITE_DONE) &&
      sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_REPREPARE, 0) != ps.reprepares) [[unlikely]] {
    describe_columns(stmt, ps);  // re-prepared by this step: SELECT * may name other columns now
    on_columns();
  }
  for (; rc == SQLITE_ROW; rc = sqlite3_step(stmt))
    if (!on_row()) return;  // the visitor has what it wanted: reset ends the read
  if (rc == SQLITE_DONE) return;
  if ((rc & 0xff) == SQLITE_INTERRUPT && m_timeout.count() > 0) {
    TimeoutError t("no answer within query_timeout_ms = " + std::to_string(m_timeout.count()) +
                   " ms; the statement was interrupted");
    t.set_engine("57014", rc);
    t.set_sql(sql);
    throw t;
  }
  throw_error(m_db, sqlite3_extended_errcode(m_db), sql);
}

Result Session::execute(std::string_view sql, std::span<const Value> params) {
  PreparedStatement* ps = &prepare_cached(sql);
  Result result(ps->columns);
  step_all(
      *ps, sql, params,
      [&] {
        read_row(*ps, result.append_row());
        return true;
      },
      [&] { result = Result(ps->columns); });
  if (ps->hints.empty() || !sqlite3_stmt_readonly(ps->stmt)) {
    result.set_affected_rows(static_cast<std::uint64_t>(sqlite3_changes64(m_db)));
    std::int64_t id = sqlite3_last_insert_rowid(m_db);
    // A row id insert re-prepared by this step: the schema changed since its
    // key was known to be the row id.
    if (ps->row_id_reprepares >= 0 &&
        ps->row_id_reprepares != sqlite3_stmt_status(ps->stmt, SQLITE_STMTSTATUS_REPREPARE, 0))
      id = key_after_schema_change(sql, *ps);
    result.set_last_insert_id(id);
  }
  return result;
}

namespace {
/// The current row of a statement, read column by column for a visitor
/// that reads cells (typed reads): no Value per column for the common
/// kinds, and exactly read_column()'s Value for the rest.
class Cells final : public ColumnSource {
 public:
  explicit Cells(const PreparedStatement& ps) noexcept : ColumnSource(ps.columns), m_ps(ps) {}
  void cell(std::size_t i, Cell& out) const override {
    const int c = static_cast<int>(i);
    if (i >= m_ps.hints.size() || m_ps.hints[i] != ColumnHint::plain) {
      out.kind = Kind::other;
      return;
    }
    // The reads of read_column_into, written to a cell instead of a Value (two
    // short copies: sharing one function cost the Value path 0.5 instructions
    // a row and this one 7 a read, measured).
    sqlite3_value* v = sqlite3_column_value(m_ps.stmt, c);
    switch (sqlite3_value_type(v)) {
      case SQLITE_INTEGER:
        out.kind = Kind::integer;
        out.integer = sqlite3_value_int64(v);
        return;
      case SQLITE_FLOAT:
        out.kind = Kind::real;
        out.real = sqlite3_value_double(v);
        return;
      case SQLITE_TEXT: {
        auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
        out.kind = Kind::text;
        out.text = std::string_view(p, static_cast<std::size_t>(sqlite3_value_bytes(v)));
        return;
      }
      default:
        out.kind = Kind::other;
    }
  }
  Value value(std::size_t i) const override {
    return read_column(m_ps.stmt, static_cast<int>(i), m_ps.hints.at(i));
  }

 private:
  const PreparedStatement& m_ps;
};
}  // namespace

std::uint64_t Session::execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
  PreparedStatement* ps = &prepare_cached(sql);
  std::uint64_t rows = 0;
  if (visit.reads_cells()) {
    const Cells cells(*ps);  // reads ps's columns where they are (kept up to date by step_all)
    step_all(
        *ps, sql, params,
        [&] {
          ++rows;
          return visit(Row(&cells));
        },
        [] {});
  } else {
    // One buffer for every row of every call: no allocation per row once warm.
    m_row.resize(ps->hints.size());
    step_all(
        *ps, sql, params,
        [&] {
          read_row(*ps, m_row.data());
          ++rows;
          return visit(Row(&ps->columns, m_row.data()));
        },
        [&] { m_row.resize(ps->hints.size()); });
  }
  return ps->hints.empty() ? static_cast<std::uint64_t>(sqlite3_changes64(m_db)) : rows;
}

std::unique_ptr<RowSource> Session::stream(std::string_view sql, std::span<const Value> params) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = prepare(m_db, sql.data(), static_cast<int>(sql.size()), 0, &stmt, &tail);
  if (rc != SQLITE_OK) throw_error(m_db, sqlite3_extended_errcode(m_db), sql);
  if (!stmt) throw UsageError("empty SQL statement");
  if (tail && !rest_is_blank(m_db, tail, sql.data() + sql.size())) {
    sqlite3_finalize(stmt);
    refuse_several(sql);
  }
  try {
    bind_all(m_db, stmt, sqlite3_bind_parameter_count(stmt), params, true, sql);
  } catch (...) {
    sqlite3_finalize(stmt);
    throw;
  }
  return std::make_unique<Stream>(m_db, stmt, std::string(sql));
}

bool Session::key_is_row_id(std::string_view table, std::string_view column, std::string_view plain) {
  // The answer stays with the INSERT's cached statement while SQLite has not
  // re-prepared it: no probe per insert.
  if (PreparedStatement* ps = m_cache.find(plain); ps && ps->row_id_reprepares >= 0 &&
                                                   ps->row_id_reprepares == sqlite3_stmt_status(ps->stmt, SQLITE_STMTSTATUS_REPREPARE, 0) &&
                                                   ps->row_id_table == table && ps->row_id_column == column)
    return true;
  if (!probe_row_id(table, column)) return false;
  PreparedStatement& ps = prepare_cached(plain);  // after the probe, which may have evicted it
  ps.row_id_table.assign(table);
  ps.row_id_column.assign(column);
  ps.row_id_reprepares = sqlite3_stmt_status(ps.stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
  return true;
}

std::int64_t Session::key_after_schema_change(std::string_view sql, PreparedStatement& ps) {
  const std::int64_t row = sqlite3_last_insert_rowid(m_db);
  const std::string table = ps.row_id_table, column = ps.row_id_column;
  ps.row_id_reprepares = -1;
  // The probe may evict `ps` from the cache: only `sql` finds it again.
  if (probe_row_id(table, column)) {
    if (PreparedStatement* again = m_cache.find(sql))
      again->row_id_reprepares = sqlite3_stmt_status(again->stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
    return row;
  }
  // The key is no longer the row id: read it from the row just inserted.
  std::string lookup = "SELECT \"";
  for (char ch : column) lookup += ch == '"' ? std::string_view("\"\"") : std::string_view(&ch, 1);
  lookup += "\" FROM \"";
  for (char ch : table) lookup += ch == '"' ? std::string_view("\"\"") : std::string_view(&ch, 1);
  lookup += "\" WHERE rowid = ?";
  const Value id(row);
  const Result r = execute(lookup, std::span<const Value>(&id, 1));
  if (r.empty() || r[0][0].is_null())
    throw UsageError("the row was inserted into '" + table + "', but its key '" + column +
                     "' was not generated: the table was redefined while this statement was cached");
  return r[0][0].as<std::int64_t>();
}

bool Session::probe_row_id(std::string_view table, std::string_view column) {
  auto same_name = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && sqlite3_strnicmp(a.data(), b.data(), static_cast<int>(a.size())) == 0;
  };
  // A real column named like the row id shadows it, and a qualified table
  // needs its schema split off: both keep INSERT … RETURNING.
  if (!m_db || same_name(column, "rowid") || same_name(column, "oid") || same_name(column, "_rowid_") ||
      table.find('.') != std::string_view::npos)
    return false;
  // SQLite names the origin of a selected rowid: the INTEGER PRIMARY KEY
  // column when the table has one, else "rowid" (not for a composite key, an
  // INT or DESC key); a WITHOUT ROWID table has no rowid to select. Stepping
  // the cached probe re-prepares it after a schema change, so the answer is
  // current.
  std::string sql = "SELECT rowid FROM \"";
  for (char ch : table) sql += ch == '"' ? std::string_view("\"\"") : std::string_view(&ch, 1);
  sql += "\" LIMIT 0";
  try {
    PreparedStatement& probe = prepare_cached(sql);
    const int rc = sqlite3_step(probe.stmt);
    sqlite3_reset(probe.stmt);
    if (rc != SQLITE_DONE) return false;
    const char* origin = sqlite3_column_origin_name(probe.stmt, 0);
    return origin && same_name(origin, column);
  } catch (const Error&) {
    return false;  // no such table, no rowid: the RETURNING form reports or handles it
  }
}

void Session::begin() { execute("BEGIN IMMEDIATE", {}); }

void Session::begin(const driver::TransactionSpec& spec) {
  // Every SQLite transaction is serializable, which gives each weaker level's
  // guarantees too. A read-only one takes no write lock and refuses writes.
  if (!spec.read_only) return begin();
  execute("BEGIN DEFERRED", {});
  exec_simple("PRAGMA query_only = 1");
  m_query_only = true;
}

void Session::commit() {
  end_query_only();
  execute("COMMIT", {});
}

void Session::rollback() {
  end_query_only();
  if (!sqlite3_get_autocommit(m_db)) execute("ROLLBACK", {});
}

void Session::end_query_only() {
  if (!m_query_only) return;
  m_query_only = false;
  if (!m_read_only) exec_simple("PRAGMA query_only = 0");
}

void Session::ping() {
  if (!m_db) throw ConnectionError("the SQLite handle is closed");
  execute("SELECT 1", {});
}

}  // namespace plexus::engine::sqlite

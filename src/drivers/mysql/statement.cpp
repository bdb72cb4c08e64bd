// A MariaDB prepared statement: its parameters bound from Values, its
// result columns described once and read into Values (in place for rows).
#include "drivers/mysql/session.hpp"

#include <cctype>
#include <cstring>

#include "driver/sql_lexer.hpp"
#include "drivers/mysql/grammar.hpp"
#include "driver/socket_check.hpp"
#include "drivers/mysql/errors.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::mysql {
namespace {

using namespace std::chrono;

constexpr unsigned kBinaryCharset = 63;
constexpr unsigned long kInitialBuffer = 256;

Kind kind_of(const MYSQL_FIELD& f) {
  switch (f.type) {
    case MYSQL_TYPE_TINY:
      if (f.length == 1) return Kind::boolean;  // BOOLEAN is TINYINT(1)
      [[fallthrough]];
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR: return (f.flags & UNSIGNED_FLAG) ? Kind::unsigned_integer : Kind::integer;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE: return Kind::real;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE: return Kind::date;
    case MYSQL_TYPE_TIME: return Kind::time;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP: return Kind::datetime;
    case MYSQL_TYPE_BIT:
    case MYSQL_TYPE_GEOMETRY: return Kind::bytes;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR: return f.charsetnr == kBinaryCharset ? Kind::bytes : Kind::text;
    default: return Kind::text;  // DECIMAL, JSON, ENUM, SET: exact text
  }
}

MYSQL_TIME to_mysql_time(const Value& v) {
  MYSQL_TIME t{};
  auto set_date = [&](year_month_day d) {
    t.year = static_cast<unsigned>(static_cast<int>(d.year()));
    t.month = static_cast<unsigned>(d.month());
    t.day = static_cast<unsigned>(d.day());
  };
  auto set_time = [&](microseconds us) {
    auto h = duration_cast<hours>(us);
    us -= h;
    auto m = duration_cast<minutes>(us);
    us -= m;
    auto s = duration_cast<seconds>(us);
    us -= s;
    t.hour = static_cast<unsigned>(h.count());
    t.minute = static_cast<unsigned>(m.count());
    t.second = static_cast<unsigned>(s.count());
    t.second_part = static_cast<unsigned long>(us.count());
  };
  switch (v.type()) {
    case Value::Type::date:
      set_date(v.raw_date());
      t.time_type = MYSQL_TIMESTAMP_DATE;
      break;
    case Value::Type::time:
      set_time(v.raw_time().since_midnight);
      t.time_type = MYSQL_TIMESTAMP_TIME;
      break;
    default: {
      auto ts = v.raw_timestamp();
      auto day = floor<days>(ts);
      set_date(year_month_day(day));
      set_time(ts - day);
      t.time_type = MYSQL_TIMESTAMP_DATETIME;
    }
  }
  return t;
}

Value from_mysql_time(const MYSQL_TIME& t, Kind kind) {
  if (kind == Kind::time) {
    if (t.neg || t.day || t.hour > 23) {  // a duration, not a time of day: keep it readable
      char buf[40];
      std::snprintf(buf, sizeof buf, "%s%u:%02u:%02u", t.neg ? "-" : "", t.day * 24 + t.hour, t.minute, t.second);
      return Value(std::string(buf));
    }
    return Value(Time{hours{t.hour} + minutes{t.minute} + seconds{t.second} + microseconds{t.second_part}});
  }
  year_month_day d{year{static_cast<int>(t.year)}, month{t.month}, day{t.day}};
  if (!d.ok()) return Value(std::string("0000-00-00"));  // MySQL's zero date
  if (kind == Kind::date) return Value(d);
  return Value(Timestamp(sys_days(d)) + hours{t.hour} + minutes{t.minute} + seconds{t.second} +
               microseconds{t.second_part});
}

/// The server refused `sql` as malformed: when that is because it holds
/// several statements, say so as a UsageError (nothing of it ran).
void refuse_several(std::string_view sql) {
  if (auto n = detail::count_statements(sql, grammar().syntax()); n > 1) {
    UsageError e(std::to_string(n) +
                 " statements in one call: a call runs one statement (nothing was run). Run them one by one, or as a "
                 "script with execute_script() when they take no parameters");
    e.set_sql(sql);
    throw e;
  }
}

}  // namespace

// ---- Statement -------------------------------------------------------------

Statement::Statement(MYSQL* db, std::string_view sql) : Statement(db, sql, deferred) {
  prepared(mysql_stmt_prepare(m_stmt, sql.data(), sql.size()));
}

Statement::Statement(MYSQL* db, std::string_view sql, Deferred) : m_sql(sql) {
  m_stmt = mysql_stmt_init(db);
  if (!m_stmt) throw_error(mysql_errno(db), mysql_sqlstate(db), mysql_error(db), sql);
}

int Statement::prepare_start() {
  int rc = 0;
  const int wait = mysql_stmt_prepare_start(&rc, m_stmt, m_sql.data(), m_sql.size());
  if (!wait) prepared(rc);
  return wait;
}

int Statement::prepare_cont(int ready) {
  int rc = 0;
  const int wait = mysql_stmt_prepare_cont(&rc, m_stmt, ready);
  if (!wait) prepared(rc);
  return wait;
}

void Statement::prepared(int rc) {
  if (rc) {
    unsigned code = mysql_stmt_errno(m_stmt);
    std::string state = mysql_stmt_sqlstate(m_stmt), msg = mysql_stmt_error(m_stmt);
    mysql_stmt_close(m_stmt);
    m_stmt = nullptr;
    if (code == 1064) refuse_several(m_sql);
    throw_error(code, state, msg, m_sql);
  }
  // No STMT_ATTR_UPDATE_MAX_LENGTH: longer values than a buffer holds are
  // fetched again on MYSQL_DATA_TRUNCATED, so storing need not measure rows.
  m_param_count = mysql_stmt_param_count(m_stmt);
  // Some statements (SHOW PROCESSLIST, SHOW ENGINES, SHOW WARNINGS…) announce
  // their columns only once they run: executed() describes those.
  if (MYSQL_RES* meta = mysql_stmt_result_metadata(m_stmt)) describe(meta);
}

void Statement::describe(MYSQL_RES* meta) {
  unsigned n = mysql_num_fields(meta);
  MYSQL_FIELD* fields = mysql_fetch_fields(meta);
  std::vector<std::string> names;
  m_kinds.resize(n);
  m_out.assign(n, MYSQL_BIND{});
  m_buffers.resize(n);
  m_lengths.assign(n, 0);
  m_nulls.assign(n, 0);
  m_errors.assign(n, 0);
  for (unsigned i = 0; i < n; ++i) {
    names.emplace_back(fields[i].name, fields[i].name_length);
    Kind k = kind_of(fields[i]);
    m_kinds[i] = k;
    MYSQL_BIND& b = m_out[i];
    switch (k) {
      case Kind::integer:
      case Kind::unsigned_integer:
      case Kind::boolean:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        m_buffers[i].resize(sizeof(long long));
        b.is_unsigned = k == Kind::unsigned_integer;
        break;
      case Kind::real:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        m_buffers[i].resize(sizeof(double));
        break;
      case Kind::date:
      case Kind::time:
      case Kind::datetime:
        b.buffer_type = k == Kind::date ? MYSQL_TYPE_DATE : k == Kind::time ? MYSQL_TYPE_TIME : MYSQL_TYPE_DATETIME;
        m_buffers[i].resize(sizeof(MYSQL_TIME));
        break;
      case Kind::text:
      case Kind::bytes:
        b.buffer_type = k == Kind::text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
        m_buffers[i].resize(kInitialBuffer);
        break;
    }
    b.buffer = m_buffers[i].data();
    b.buffer_length = m_buffers[i].size();
    b.length = &m_lengths[i];
    b.is_null = &m_nulls[i];
    b.error = &m_errors[i];
  }
  mysql_free_result(meta);
  m_columns = Columns(std::move(names));
  if (mysql_stmt_bind_result(m_stmt, m_out.data())) fail();
}

Statement::~Statement() {
  if (m_stmt) mysql_stmt_close(m_stmt);
}

void Statement::fail() const {
  const unsigned code = mysql_stmt_errno(m_stmt);
  if (code == CR_NEW_STMT_METADATA)
    throw_error(code, "", "the table behind this cached statement changed its columns since it was prepared; the "
                "statement ran but its rows could not be read, and it is prepared again on the next call", m_sql);
  throw_error(code, mysql_stmt_sqlstate(m_stmt), mysql_stmt_error(m_stmt), m_sql);
}

void Statement::finish() noexcept {
  if (m_active) {
    mysql_stmt_free_result(m_stmt);
    m_active = false;
  }
}

void Statement::execute(std::span<const Value> params, bool buffered) {
  bind(params);
  if (mysql_stmt_execute(m_stmt)) fail();
  executed();
  if (m_active && buffered && mysql_stmt_store_result(m_stmt)) fail();
}

int Statement::checked(int wait, int rc) const {
  if (!wait && rc) fail();
  return wait;
}

int Statement::execute_start() {
  int rc = 0;
  const int wait = mysql_stmt_execute_start(&rc, m_stmt);
  return checked(wait, rc);
}

int Statement::execute_cont(int ready) {
  int rc = 0;
  const int wait = mysql_stmt_execute_cont(&rc, m_stmt, ready);
  return checked(wait, rc);
}

int Statement::store_start() {
  int rc = 0;
  const int wait = mysql_stmt_store_result_start(&rc, m_stmt);
  return checked(wait, rc);
}

int Statement::store_cont(int ready) {
  int rc = 0;
  const int wait = mysql_stmt_store_result_cont(&rc, m_stmt, ready);
  return checked(wait, rc);
}

void Statement::executed() {
  if (m_kinds.empty() && mysql_stmt_field_count(m_stmt) > 0) {
    // Columns announced only now (see prepared()): read them, or the
    // unread rows would leave the session out of step with the server.
    MYSQL_RES* meta = mysql_stmt_result_metadata(m_stmt);
    if (!meta) fail();
    describe(meta);
  }
  m_active = !m_kinds.empty();
}

void Statement::bind(std::span<const Value> params) {
  finish();
  if (params.size() != m_param_count)
    throw UsageError("the statement has " + std::to_string(m_param_count) + " placeholder(s) but " +
                     std::to_string(params.size()) + " value(s) were bound: " + m_sql.substr(0, 200));
  std::size_t n = params.size();
  m_params.assign(n, MYSQL_BIND{});
  m_param_times.resize(n);
  m_param_bools.resize(n);
  m_param_ints.resize(n);
  m_param_reals.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Value& v = params[i];
    MYSQL_BIND& b = m_params[i];
    switch (v.type()) {
      case Value::Type::null: b.buffer_type = MYSQL_TYPE_NULL; break;
      case Value::Type::boolean:
        m_param_bools[i] = v.raw_bool() ? 1 : 0;
        b.buffer_type = MYSQL_TYPE_TINY;
        b.buffer = &m_param_bools[i];
        break;
      case Value::Type::integer:
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        m_param_ints[i] = v.raw_int();
        b.buffer = &m_param_ints[i];
        break;
      case Value::Type::real:
        b.buffer_type = MYSQL_TYPE_DOUBLE;
        m_param_reals[i] = v.raw_real();
        b.buffer = &m_param_reals[i];
        break;
      case Value::Type::text:
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = const_cast<char*>(v.raw_text().data());
        b.buffer_length = v.raw_text().size();
        break;
      case Value::Type::bytes:
        b.buffer_type = MYSQL_TYPE_BLOB;
        // A null buffer would read as SQL NULL: point empty blobs at a real byte.
        b.buffer = v.raw_bytes().data.empty() ? static_cast<void*>(&m_param_bools[i])
                                              : const_cast<std::uint8_t*>(v.raw_bytes().data.data());
        b.buffer_length = v.raw_bytes().data.size();
        break;
      default:
        m_param_times[i] = to_mysql_time(v);
        b.buffer_type = v.type() == Value::Type::date   ? MYSQL_TYPE_DATE
                        : v.type() == Value::Type::time ? MYSQL_TYPE_TIME
                                                        : MYSQL_TYPE_DATETIME;
        b.buffer = &m_param_times[i];
        break;
    }
  }
  if (n && mysql_stmt_bind_param(m_stmt, m_params.data())) fail();
}

Value Statement::read(std::size_t i) {
  if (m_nulls[i]) return {};
  const char* buf = m_buffers[i].data();
  switch (m_kinds[i]) {
    case Kind::integer: {
      long long v;
      std::memcpy(&v, buf, sizeof v);
      return Value(static_cast<std::int64_t>(v));
    }
    case Kind::unsigned_integer: {
      unsigned long long v;
      std::memcpy(&v, buf, sizeof v);
      if (v > static_cast<unsigned long long>(INT64_MAX)) return Value(std::to_string(v));  // exact, as text
      return Value(static_cast<std::int64_t>(v));
    }
    case Kind::boolean: {
      long long v;
      std::memcpy(&v, buf, sizeof v);
      if (v == 0 || v == 1) return Value(v == 1);
      return Value(static_cast<std::int64_t>(v));
    }
    case Kind::real: {
      double d;
      std::memcpy(&d, buf, sizeof d);
      return Value(d);
    }
    case Kind::date:
    case Kind::time:
    case Kind::datetime: {
      MYSQL_TIME t;
      std::memcpy(&t, buf, sizeof t);
      return from_mysql_time(t, m_kinds[i]);
    }
    case Kind::text: return Value(std::string(buf, m_lengths[i]));
    case Kind::bytes: {
      auto* p = reinterpret_cast<const std::uint8_t*>(buf);
      return Value(Bytes(std::vector<std::uint8_t>(p, p + m_lengths[i])));
    }
  }
  return {};
}

void Statement::read_into(std::size_t i, Value& out) {
  if (!m_nulls[i]) {  // the common types, written in place (text reuses its storage)
    switch (m_kinds[i]) {
      case Kind::integer: {
        long long v;
        std::memcpy(&v, m_buffers[i].data(), sizeof v);
        out.set_int(static_cast<std::int64_t>(v));
        return;
      }
      case Kind::real: {
        double d;
        std::memcpy(&d, m_buffers[i].data(), sizeof d);
        out.set_real(d);
        return;
      }
      case Kind::text: out.set_text(std::string_view(m_buffers[i].data(), m_lengths[i])); return;
      default: break;
    }
  }
  out = read(i);
}

bool Statement::fetch_into(Value* out) {
  if (!fetched(mysql_stmt_fetch(m_stmt))) return false;
  read_row(out);
  return true;
}

int Statement::fetch_start(int& rc) {
  rc = 0;
  return mysql_stmt_fetch_start(&rc, m_stmt);
}

int Statement::fetch_cont(int ready, int& rc) {
  rc = 0;
  return mysql_stmt_fetch_cont(&rc, m_stmt, ready);
}

void Statement::read_row(Value* out) {
  for (std::size_t i = 0; i < m_kinds.size(); ++i) read_into(i, out[i]);
}

bool Statement::fetched(int rc) {
  if (rc == MYSQL_NO_DATA) {
    finish();
    return false;
  }
  if (rc == 1) fail();
  if (rc == MYSQL_DATA_TRUNCATED) {
    bool rebind = false;
    for (std::size_t i = 0; i < m_kinds.size(); ++i) {
      if (m_nulls[i] || m_lengths[i] <= m_out[i].buffer_length) continue;
      if (m_kinds[i] != Kind::text && m_kinds[i] != Kind::bytes) continue;
      m_buffers[i].resize(m_lengths[i]);
      m_out[i].buffer = m_buffers[i].data();
      m_out[i].buffer_length = m_buffers[i].size();
      if (mysql_stmt_fetch_column(m_stmt, &m_out[i], static_cast<unsigned>(i), 0)) fail();
      rebind = true;
    }
    if (rebind && mysql_stmt_bind_result(m_stmt, m_out.data())) fail();
  }
  return true;
}

bool Statement::fetch(std::vector<Value>& row) {
  row.resize(m_kinds.size());
  return fetch_into(row.data());
}

}  // namespace plexus::engine::mysql

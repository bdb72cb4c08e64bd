// The MariaDB session's non-blocking side (driver::AsyncSession), on
// Connector/C's non-blocking calls (mysql_stmt_prepare_start/_cont,
// mysql_stmt_execute_start/_cont, mysql_stmt_store_result_start/_cont): a
// statement is prepared (when not cached), executed and its rows stored
// client-side, each step answering the MYSQL_WAIT_* bits the caller's loop
// waits for. The statements are those of the blocking side's cache.
#include <utility>

#include "drivers/mysql/errors.hpp"
#include "drivers/mysql/session.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::mysql {
namespace {

driver::AsyncSession::Wait wait_for(int bits) {
  using Wait = driver::AsyncSession::Wait;
  if (!bits) return Wait::done;
  return (bits & MYSQL_WAIT_WRITE) ? Wait::write : Wait::read;  // a read timeout is the loop's to keep
}

}  // namespace

int Session::socket() const noexcept { return m_db ? static_cast<int>(mysql_get_socket(m_db)) : -1; }

Session::Wait Session::start(std::string_view sql, std::span<const Value> params) {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  if (auto* hit = m_cache.find(sql)) {
    (*hit)->bind(params);  // checks the count before anything is sent
    m_async = hit->get();
    m_step = Step::executing;
  } else {
    // Prepared first; its values kept until they are bound.
    m_preparing = std::make_unique<Statement>(m_db, sql, Statement::deferred);
    m_async_params.assign(params.begin(), params.end());
    m_async = m_preparing.get();
    m_step = Step::preparing;
  }
  m_async_sql.assign(sql);
  m_async_error = nullptr;
  try {
    return advance(m_step == Step::executing ? m_async->execute_start() : m_async->prepare_start());
  } catch (...) {
    m_async_error = std::current_exception();
    return failed_async();
  }
}

Session::Wait Session::resume() {
  if (m_step == Step::idle || m_step == Step::done) return Wait::done;
  const int ready = m_wait & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT);
  try {
    switch (m_step) {
      case Step::preparing: return advance(m_async->prepare_cont(ready));
      case Step::executing: return advance(m_async->execute_cont(ready));
      case Step::storing: return advance(m_async->store_cont(ready));
      case Step::fetching:
        if (!m_stream.rows.empty()) return Wait::done;  // taken first
        return fetch_rows(m_stream.fetching ? m_async->fetch_cont(ready, m_stream.rc) : m_async->fetch_start(m_stream.rc));
      case Step::controlling: {
        int err = 0;
        return control_step(mysql_real_query_cont(&err, m_db, ready), err);
      }
      default: return Wait::done;
    }
  } catch (...) {
    m_async_error = std::current_exception();
    return failed_async();
  }
}

Session::Wait Session::advance(int wait) {
  // Each step either asks to wait, or is done and the next one starts.
  while (!wait) {
    switch (m_step) {
      case Step::preparing: {
        Statement& st = keep(m_async_sql, std::move(m_preparing));
        m_async = &st;
        st.bind(m_async_params);  // borrowed until the statement has been sent (cleared by take())
        m_step = Step::executing;
        wait = st.execute_start();
        break;
      }
      case Step::executing:
        m_async->executed();
        if (!m_async->has_rows()) {
          if (m_stream.on) {  // a statement without rows: the stream ends at once
            m_stream.ended = true;
            m_stream.affected = m_async->affected_rows();
          }
          m_step = Step::done;
          return Wait::done;
        }
        if (m_stream.on) {
          m_step = Step::fetching;
          return fetch_rows(m_async->fetch_start(m_stream.rc));
        }
        m_step = Step::storing;
        wait = m_async->store_start();
        break;
      default:
        m_step = Step::done;
        return Wait::done;
    }
  }
  m_wait = wait;
  return wait_for(wait);
}

Session::Wait Session::failed_async() noexcept {
  if (m_async && (m_step == Step::storing || m_step == Step::fetching)) m_async->finish();
  if (m_stream.on) m_stream.ended = true;
  m_async = nullptr;  // take() throws the error; the statement may leave the cache below
  m_preparing.reset();
  m_async_params.clear();
  try {
    std::rethrow_exception(m_async_error);
  } catch (const Error& e) {
    note_error(e, m_async_sql);
  } catch (...) {
  }
  m_step = Step::done;
  return Wait::done;
}

Result Session::take() {
  if (m_step != Step::done || m_control || m_stream.on)
    throw UsageError("no statement has finished on this session: wait until resume() answers Wait::done");
  m_step = Step::idle;
  m_async_params.clear();
  Statement* st = std::exchange(m_async, nullptr);
  if (m_async_error) std::rethrow_exception(std::exchange(m_async_error, nullptr));
  return buffered_result(*st);
}

// ---- streams: rows fetched one at a time, without blocking --------------------------

namespace {
/// Rows read ahead before a stream hands them over.
constexpr std::size_t kStreamAhead = 512;
}  // namespace

Session::Wait Session::start_stream(std::string_view sql, std::span<const Value> params) {
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  m_stream = Streaming{};
  m_stream.on = true;
  try {
    return start(sql, params);
  } catch (...) {
    m_stream = Streaming{};
    throw;
  }
}

Session::Wait Session::fetch_rows(int wait) {
  // Rows the client already holds come without waiting; a fetch that must
  // wait stays in flight, and the rows read so far are handed over first.
  for (;;) {
    if (wait) {
      m_stream.fetching = true;
      m_wait = wait;
      return m_stream.rows.empty() ? wait_for(wait) : Wait::done;
    }
    m_stream.fetching = false;
    if (!m_async->fetched(m_stream.rc)) {  // the end (the result is freed)
      m_stream.ended = true;
      m_step = Step::done;
      return Wait::done;
    }
    if (m_stream.rows.columns().size() == 0) m_stream.rows.set_columns(m_async->columns());
    m_async->read_row(m_stream.rows.append_row());
    if (m_stream.rows.size() >= kStreamAhead) return Wait::done;
    wait = m_async->fetch_start(m_stream.rc);
  }
}

bool Session::take_rows(Result& into) {
  if (!m_stream.on) throw UsageError("no stream was started on this session: start_stream() first");
  Columns cols = m_stream.rows.columns().size() || !m_async ? m_stream.rows.columns() : m_async->columns();
  into = std::exchange(m_stream.rows, Result{});
  into.set_columns(cols);
  m_stream.rows.set_columns(std::move(cols));
  if (!into.empty()) return false;
  if (!m_stream.ended) return false;
  into.set_affected_rows(m_stream.affected);
  m_stream = Streaming{};
  m_step = Step::idle;
  m_async_params.clear();
  m_async = nullptr;
  if (m_async_error) std::rethrow_exception(std::exchange(m_async_error, nullptr));
  return true;
}

Session::Wait Session::start_control(std::string_view sql) {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  m_async_sql.assign(sql);
  m_async_error = nullptr;
  m_control = true;
  m_step = Step::controlling;
  int err = 0;
  return control_step(mysql_real_query_start(&err, m_db, m_async_sql.data(), m_async_sql.size()), err);
}

Session::Wait Session::control_step(int status, int err) {
  if (status) {
    m_wait = status;
    return wait_for(status);
  }
  if (err) {
    try {
      fail(m_async_sql);  // notes what the error says of the session
    } catch (...) {
      m_async_error = std::current_exception();
    }
  } else if (mysql_field_count(m_db) != 0) {
    // Rows from a statement that should have none: read and dropped (they are already here).
    if (MYSQL_RES* r = mysql_store_result(m_db)) mysql_free_result(r);
  }
  m_step = Step::done;
  return Wait::done;
}

void Session::take_control() {
  if (m_step != Step::done || !m_control)
    throw UsageError("no control statement has finished on this session: wait until resume() answers Wait::done");
  m_step = Step::idle;
  m_control = false;
  if (m_async_error) std::rethrow_exception(std::exchange(m_async_error, nullptr));
}

void Session::cancel() {
  if (m_step != Step::idle && m_step != Step::done) kill_query();
}

}  // namespace plexus::engine::mysql

// The PostgreSQL session's non-blocking side (driver::AsyncSession): a
// statement is sent with PQsendQueryPrepared on a socket in non-blocking mode,
// and read with PQconsumeInput/PQisBusy/PQgetResult as the caller's loop
// reports the socket ready. A statement not yet in the cache is prepared and
// run in one round trip (pipeline mode: prepare, statement, sync), and cached
// as the blocking side caches it.
#include <algorithm>
#include <cstring>
#include <utility>

#include "drivers/postgres/errors.hpp"
#include "drivers/postgres/session.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::postgres {

int Session::socket() const noexcept { return m_conn ? PQsocket(m_conn) : -1; }

Session::Wait Session::start(std::string_view sql, std::span<const Value> params) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  // Checked before anything is sent, as execute() checks them.
  Prepared* hit = m_cache_enabled ? m_cache.find(sql) : nullptr;
  Prepared fresh;
  if (!hit) {
    fresh.sql = translate_placeholders(sql, &fresh.placeholders);
    check_count(fresh, params.size(), sql);
  } else {
    check_count(*hit, params.size(), sql);
  }
  encode(params, m_enc);  // refuses a NUL in text
  if (PQsetnonblocking(m_conn, 1) != 0) throw_result_error(m_conn, nullptr, sql);
  m_async_sql.assign(sql);
  m_shape = nullptr;
  if (hit) {
    m_shape = hit;
    send(*hit);
    m_step = Step::running;
  } else if (m_cache_enabled && m_cache.size() < m_cache_cap) {
    // Prepared and run in one round trip: the prepare, the statement and a
    // sync go out together in pipeline mode (everything is in libpq's buffer
    // before start() returns: the caller's values may go away).
    fresh.name = "plexus_" + std::to_string(++m_next_name);
    m_pending = std::move(fresh);
    const bool queued = PQenterPipelineMode(m_conn) &&
                        PQsendPrepare(m_conn, m_pending.name.c_str(), m_pending.sql.c_str(),
                                      static_cast<int>(m_pending.placeholders), nullptr);
    if (!queued) {
      PQexitPipelineMode(m_conn);
      PQsetnonblocking(m_conn, 0);
      throw_result_error(m_conn, nullptr, sql);
    }
    m_pipelined = true;
    send(m_pending);
    if (!PQpipelineSync(m_conn)) {
      m_step = Step::done;  // take() throws the connection's error and leaves the pipeline
      return Wait::done;
    }
    m_step = Step::running;
  } else {
    // Not cached (pgbouncer in transaction mode, or a full cache: the
    // blocking side empties it between transactions): sent with its text.
    m_unnamed = std::move(fresh);
    send(m_unnamed);
    m_step = Step::running;
  }
  return flush_sent();
}

void Session::send(const Prepared& p) {
  const int n = static_cast<int>(m_enc.values.size());
  const int sent = p.name.empty() ? PQsendQueryParams(m_conn, p.sql.c_str(), n, nullptr, m_enc.values.data(),
                                                      m_enc.lengths.data(), m_enc.formats.data(), 0)
                                  : PQsendQueryPrepared(m_conn, p.name.c_str(), n, m_enc.values.data(),
                                                        m_enc.lengths.data(), m_enc.formats.data(), 0);
  if (!sent) {
    m_step = Step::idle;
    m_batch = {};
    if (m_pipelined) PQexitPipelineMode(m_conn);
    m_pipelined = false;
    PQsetnonblocking(m_conn, 0);
    throw_result_error(m_conn, nullptr, m_async_sql);
  }
}

Session::Wait Session::flush_sent() {
  const int f = PQflush(m_conn);
  if (f < 0) {  // the socket failed: the statement ends with the connection's error
    m_step = Step::done;
    return Wait::done;
  }
  m_flushing = f == 1;
  return m_flushing ? Wait::write : Wait::read;
}

Session::Wait Session::resume() {
  if (m_step == Step::idle || m_step == Step::done) return Wait::done;
  if (m_batch.on) return resume_batch();
  if (m_stream.on) return resume_stream();
  if (m_flushing) {
    if (flush_sent() != Wait::read) return m_step == Step::done ? Wait::done : Wait::write;
  }
  if (!PQconsumeInput(m_conn)) {  // the connection is gone: take() throws its error
    m_step = Step::done;
    return Wait::done;
  }
  while (!PQisBusy(m_conn)) {
    PGresult* r = PQgetResult(m_conn);
    if (m_pipelined) {
      // Results of the prepare, then of the statement, each ended by a null;
      // the sync ends the pipeline.
      if (!r) continue;
      if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        PQexitPipelineMode(m_conn);
        m_pipelined = false;
        if (!failed(m_kept)) m_shape = &m_cache.insert(m_async_sql, std::move(m_pending));
        m_step = Step::done;
        return Wait::done;
      }
    } else if (!r) {  // every result of the statement is in
      m_step = Step::done;
      return Wait::done;
    }
    // Kept: the first error, else the last result (the statement's, after the prepare's).
    if (!m_kept || !failed(m_kept)) std::swap(m_kept, r);
    PQclear(r);
  }
  return Wait::read;
}

PGresult* Session::end_in_flight() noexcept {
  m_step = Step::idle;
  m_flushing = false;
  m_control = false;
  m_batch = {};
  m_stream = Streaming{};
  if (m_pipelined && m_conn) PQexitPipelineMode(m_conn);  // after a lost connection, the pipeline never synced
  m_pipelined = false;
  if (m_conn) PQsetnonblocking(m_conn, 0);
  return std::exchange(m_kept, nullptr);
}

void Session::raise_failed(const PGresult* r, bool cached) {
  // The table behind a cached plan changed shape (0A000): the statement
  // leaves the cache, so the next start() prepares it again. The blocking
  // side also runs it again at once; here the caller does.
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (cached && state && std::strcmp(state, "0A000") == 0) m_cache.erase(m_async_sql);
  refuse_or_throw(m_conn, r, m_async_sql);
}

Result Session::take() {
  if (m_step != Step::done || m_batch.on || m_control || m_stream.on)
    throw UsageError("no statement has finished on this session: wait until resume() answers Wait::done");
  ResultPtr r(end_in_flight());
  if (failed(r.r)) raise_failed(r.r, m_shape != nullptr);
  return materialise(r.r, m_shape);
}

// ---- batches: one pipeline, a sync per chunk --------------------------------------

namespace {
/// Statements per sync: what is in flight stays well inside the socket
/// buffers (as the blocking execute_batch chunks), so sending never waits on
/// a server that is itself waiting for its results to be read.
constexpr std::size_t kBatchChunk = 128;
}  // namespace

Session::Wait Session::start_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  // Checked before anything is sent, as execute_batch() checks them.
  Prepared* hit = m_cache_enabled ? m_cache.find(sql) : nullptr;
  Prepared fresh;
  if (!hit) fresh.sql = translate_placeholders(sql, &fresh.placeholders);
  for (std::size_t i = 0; i < sets.size(); ++i) {
    if (i > 0 && sets[i].size() != sets[0].size())
      throw UsageError("parameter set " + std::to_string(i) + " of the batch has " + std::to_string(sets[i].size()) +
                       " value(s), the first has " + std::to_string(sets[0].size()) +
                       ": every set binds the same statement");
    for (std::size_t k = 0; k < sets[i].size(); ++k)
      if (sets[i][k].type() == Value::Type::text) refuse_nul(sets[i][k], k);
  }
  if (!sets.empty()) check_count(hit ? *hit : fresh, sets[0].size(), sql);
  m_async_sql.assign(sql);
  m_batch = Batch{};
  m_batch.on = true;
  m_batch.sets = sets;
  m_batch.results.reserve(sets.size());
  if (sets.empty()) {
    m_step = Step::done;
    return Wait::done;
  }
  if (PQsetnonblocking(m_conn, 1) != 0 || PQenterPipelineMode(m_conn) != 1) {
    m_batch = {};
    PQsetnonblocking(m_conn, 0);
    throw_result_error(m_conn, nullptr, sql);
  }
  m_pipelined = true;
  m_shape = hit;
  if (!hit && m_cache_enabled && m_cache.size() < m_cache_cap) {
    // Prepared in the same pipeline, ahead of the first chunk; cached at its sync.
    fresh.name = "plexus_" + std::to_string(++m_next_name);
    m_pending = std::move(fresh);
    if (!PQsendPrepare(m_conn, m_pending.name.c_str(), m_pending.sql.c_str(), static_cast<int>(m_pending.placeholders),
                       nullptr)) {
      m_batch = {};
      PQexitPipelineMode(m_conn);
      m_pipelined = false;
      PQsetnonblocking(m_conn, 0);
      throw_result_error(m_conn, nullptr, sql);
    }
    m_batch.preparing = true;
  } else if (!hit) {
    m_unnamed = std::move(fresh);  // pgbouncer, or a full cache: each statement goes with its text
  }
  m_step = Step::running;
  return send_chunk();
}

Session::Wait Session::send_chunk() {
  const Prepared& p = m_shape ? *m_shape : m_batch.preparing ? m_pending : m_unnamed;
  const std::size_t end = std::min(m_batch.sets.size(), m_batch.next + kBatchChunk);
  for (; m_batch.next < end; ++m_batch.next) {
    encode(m_batch.sets[m_batch.next], m_enc);
    send(p);
  }
  if (!PQpipelineSync(m_conn)) {
    m_step = Step::done;  // take_batch() throws the connection's error
    return Wait::done;
  }
  return flush_sent();
}

Session::Wait Session::resume_batch() {
  if (m_flushing) {
    if (flush_sent() != Wait::read) return m_step == Step::done ? Wait::done : Wait::write;
  }
  if (!PQconsumeInput(m_conn)) {  // the connection is gone: take_batch() throws its error
    m_step = Step::done;
    return Wait::done;
  }
  while (!PQisBusy(m_conn)) {
    PGresult* r = PQgetResult(m_conn);
    if (!r) continue;  // the end of one statement's results
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {  // a chunk is in: the next one goes, unless a statement failed
      PQclear(r);
      if (m_batch.preparing) {
        m_batch.preparing = false;
        if (!m_kept) m_shape = &m_cache.insert(m_async_sql, std::move(m_pending));
      }
      if (m_kept || m_batch.next == m_batch.sets.size()) {
        m_step = Step::done;
        return Wait::done;
      }
      return send_chunk();
    }
    if (m_batch.preparing && !m_batch.prepare_answered) {  // the prepare's own answer
      m_batch.prepare_answered = true;
      if (failed(r) && !m_kept) m_kept = r;
      else PQclear(r);
      continue;
    }
    if (st == PGRES_PIPELINE_ABORTED || m_kept) {  // after the first error nothing else ran
      PQclear(r);
    } else if (failed(r)) {
      m_kept = r;
    } else {
      ResultPtr owned(r);
      m_batch.results.push_back(materialise(r, m_shape));
    }
  }
  return Wait::read;
}

std::vector<Result> Session::take_batch() {
  if (m_step != Step::done || !m_batch.on)
    throw UsageError("no batch has finished on this session: wait until resume() answers Wait::done");
  const std::size_t expected = m_batch.sets.size();
  std::vector<Result> out = std::move(m_batch.results);
  ResultPtr r(end_in_flight());
  if (r.r) raise_failed(r.r, m_shape != nullptr);
  if (out.size() != expected) throw_result_error(m_conn, nullptr, m_async_sql);  // the connection was lost midway
  return out;
}

// ---- streams: single-row mode ----------------------------------------------------

Session::Wait Session::start_stream(std::string_view sql, std::span<const Value> params) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  m_unnamed = Prepared{};
  m_unnamed.sql = translate_placeholders(sql, &m_unnamed.placeholders);
  check_count(m_unnamed, params.size(), sql);
  encode(params, m_enc);
  m_async_sql.assign(sql);
  if (PQsetnonblocking(m_conn, 1) != 0) throw_result_error(m_conn, nullptr, sql);
  send(m_unnamed);
  if (!PQsetSingleRowMode(m_conn)) {
    m_step = Step::done;  // the statement runs, but its rows would come all at once: refused
    cancel_bounded(m_conn, kCancelWait);
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
    PQsetnonblocking(m_conn, 0);
    m_step = Step::idle;
    throw UsageError("PostgreSQL refused single-row mode for this query");
  }
  m_stream = Streaming{};
  m_stream.on = true;
  m_step = Step::running;
  return flush_sent();
}

Session::Wait Session::resume_stream() {
  if (!m_stream.rows.empty()) return Wait::done;  // taken first
  if (m_flushing) {
    if (flush_sent() != Wait::read) return m_step == Step::done ? Wait::done : Wait::write;
  }
  if (!PQconsumeInput(m_conn)) {  // the connection is gone: take_rows() throws its error
    m_stream.ended = true;
    m_step = Step::done;
    return Wait::done;
  }
  while (!PQisBusy(m_conn)) {
    PGresult* r = PQgetResult(m_conn);
    if (!r) {  // the end of the statement
      m_stream.ended = true;
      m_step = Step::done;
      return Wait::done;
    }
    ResultPtr owned(r);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_SINGLE_TUPLE) {
      if (m_stream.rows.columns().size() == 0) m_stream.rows.set_columns(columns_for(r, nullptr));
      decode_row(r, 0, m_types, m_stream.rows.append_row());
    } else if (failed(r)) {
      if (!m_kept) m_kept = std::exchange(owned.r, nullptr);
    } else if (m_stream.rows.columns().size() == 0) {  // the final, empty result: its columns (and a write's count)
      m_stream.rows.set_columns(columns_for(r, nullptr));
      const char* affected = PQcmdTuples(r);
      if (affected && *affected) m_stream.rows.set_affected_rows(std::strtoull(affected, nullptr, 10));
    }
  }
  return m_stream.rows.empty() ? Wait::read : Wait::done;
}

bool Session::take_rows(Result& into) {
  if (!m_stream.on) throw UsageError("no stream was started on this session: start_stream() first");
  Columns cols = m_stream.rows.columns();
  into = std::exchange(m_stream.rows, Result{});
  m_stream.rows.set_columns(std::move(cols));
  if (!into.empty()) return false;
  if (!m_stream.ended) return false;
  ResultPtr r(end_in_flight());
  const bool lost = !r.r && (!m_conn || PQstatus(m_conn) == CONNECTION_BAD);
  if (r.r || lost) refuse_or_throw(m_conn, r.r, m_async_sql);
  return true;
}

// ---- control statements (a transaction's steps) ------------------------------------

Session::Wait Session::start_control(std::string_view sql) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  if (m_step != Step::idle)
    throw UsageError("a statement is already in flight on this session: wait for it and take() its result first");
  m_async_sql.assign(sql);
  if (PQsetnonblocking(m_conn, 1) != 0 || !PQsendQuery(m_conn, m_async_sql.c_str())) {
    PQsetnonblocking(m_conn, 0);
    throw_result_error(m_conn, nullptr, m_async_sql);
  }
  m_shape = nullptr;
  m_control = true;
  m_step = Step::running;
  return flush_sent();
}

void Session::take_control() {
  if (m_step != Step::done || !m_control)
    throw UsageError("no control statement has finished on this session: wait until resume() answers Wait::done");
  ResultPtr r(end_in_flight());
  if (failed(r.r)) throw_result_error(m_conn, r.r, m_async_sql);
  if (m_async_sql == "COMMIT") check_committed(r.r);
}

void Session::cancel() {
  if (m_step == Step::running) cancel_bounded(m_conn, kCancelWait);
}

}  // namespace plexus::engine::postgres

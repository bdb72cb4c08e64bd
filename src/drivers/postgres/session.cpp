#include "drivers/postgres/session.hpp"

#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <poll.h>
#include <thread>

#include "driver/sql_lexer.hpp"
#include "drivers/postgres/grammar.hpp"
#include "driver/socket_check.hpp"
#include "drivers/postgres/errors.hpp"
#include "plexus/core/error.hpp"

namespace plexus::engine::postgres {

/// Asks the server to cancel what `conn` is running, waiting at most `limit`
/// for the request to go through (libpq's PQcancel has no timeout of its own:
/// it runs on a thread of its own and is left to finish when the server hangs).
void cancel_bounded(PGconn* conn, std::chrono::milliseconds limit) {
  PGcancel* c = conn ? PQgetCancel(conn) : nullptr;
  if (!c) return;
  struct State {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
  };
  auto st = std::make_shared<State>();
  try {
    std::thread([c, st] {
      char buf[256];
      PQcancel(c, buf, sizeof buf);
      PQfreeCancel(c);
      {
        std::lock_guard lock(st->m);
        st->done = true;
      }
      st->cv.notify_all();
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(c);  // no thread to spare: the session is closed without a cancel
    return;
  }
  std::unique_lock lock(st->m);
  st->cv.wait_for(lock, limit, [&] { return st->done; });
}

/// throw_result_error(), except that a statement the server refused because
/// the text holds several statements is a UsageError (nothing of it ran).
[[noreturn]] void refuse_or_throw(PGconn* conn, const PGresult* res, std::string_view sql) {
  const char* st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (st && std::strcmp(st, "42601") == 0) {
    if (auto n = detail::count_statements(sql, grammar().syntax()); n > 1) {
      UsageError e(std::to_string(n) +
                   " statements in one call: a call runs one statement (nothing was run). Run them one by one, or "
                   "as a script with execute_script() when they take no parameters");
      e.set_sql(sql);
      throw e;
    }
  }
  throw_result_error(conn, res, sql);
}

bool failed(const PGresult* r) {
  if (!r) return true;
  auto st = PQresultStatus(r);
  return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_SINGLE_TUPLE && st != PGRES_EMPTY_QUERY;
}

namespace {

Columns columns_of(const PGresult* r, std::vector<Oid>& types) {
  int n = PQnfields(r);
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(n));
  types.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    names.emplace_back(PQfname(r, i));
    types[static_cast<std::size_t>(i)] = PQftype(r, i);
  }
  return Columns(std::move(names));
}

/// Rows of a single-row-mode query, pulled one PGresult at a time.
class Stream final : public RowSource {
 public:
  Stream(Session& owner, std::string sql) : m_owner(&owner), m_conn(owner.handle()), m_sql(std::move(sql)) { fetch(); }
  ~Stream() override {
    if (m_done || !m_owner->handle()) return;
    // Stop the server sending the rest, then drain what is in flight.
    cancel_bounded(m_conn, kCancelWait);
    PQclear(m_pending);
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
  }
  const Columns& columns() const override { return m_columns; }
  bool next(std::vector<Value>& row) override {
    if (m_done) return false;
    if (!m_pending) fetch();
    if (m_done) return false;
    row.resize(m_types.size());
    decode_row(m_pending, 0, m_types, row.data());
    PQclear(m_pending);
    m_pending = nullptr;
    return true;
  }

 private:
  void fetch() {
    if (m_owner->timeout().count() > 0 &&
        !await_result(m_conn, std::chrono::steady_clock::now() + m_owner->timeout())) {
      m_done = true;
      m_owner->fail_timeout(m_sql);
    }
    PGresult* r = PQgetResult(m_conn);
    if (r && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
      if (m_types.empty() && m_columns.size() == 0) m_columns = columns_of(r, m_types);
      m_pending = r;
      return;
    }
    // The final result: TUPLES_OK with no rows, or an error.
    bool bad = failed(r) && r;
    if (r && !bad && m_columns.size() == 0) m_columns = columns_of(r, m_types);
    if (bad || !r) {
      PGresult* keep = r;
      while (PGresult* more = PQgetResult(m_conn)) PQclear(more);
      m_done = true;
      if (!keep && PQstatus(m_conn) != CONNECTION_BAD) return;  // no result at all: nothing to read
      ResultPtr guard(keep);
      refuse_or_throw(m_conn, keep, m_sql);
    }
    PQclear(r);
    while (PGresult* more = PQgetResult(m_conn)) PQclear(more);
    m_done = true;
  }

  Session* m_owner;
  PGconn* m_conn;
  std::string m_sql;
  Columns m_columns;
  std::vector<Oid> m_types;
  PGresult* m_pending = nullptr;
  bool m_done = false;
};

}  // namespace

std::string translate_placeholders(std::string_view sql, std::size_t* count) {
  const SqlSyntax syntax = grammar().syntax();
  if (detail::has_dollar_placeholders(sql, syntax)) {
    if (count) *count = detail::max_dollar_placeholder(sql, syntax);
    return std::string(sql);
  }
  std::string out;
  std::size_t n = 0;
  detail::rewrite_placeholders(sql, syntax, out, [&](std::string& o) {
    o += '$';
    o += std::to_string(++n);
  });
  if (count) *count = n;
  return out;
}

bool await_result(PGconn* conn, std::chrono::steady_clock::time_point deadline) {
  while (PQisBusy(conn)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{PQsocket(conn), POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left.count()) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return true;  // let PQgetResult report the socket error
    if (rc > 0 && !PQconsumeInput(conn)) return true;
  }
  return true;
}

ConnectParams::ConnectParams(const driver::Target& target) {
  const ConnectionConfig& cfg = target.config;
  const Endpoint* host = target.host;
  auto add = [&](std::string k, std::string v) {
    keys.push_back(std::move(k));
    values.push_back(std::move(v));
  };
  std::string hosts, ports;
  // Every pool connects to its one host: with several primary candidates the
  // router finds the one that takes writes (libpq's own host list is not used).
  std::vector<Endpoint> targets = host ? std::vector<Endpoint>{*host} : cfg.hosts;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    hosts += (i ? "," : "") + (targets[i].socket.empty() ? targets[i].host : targets[i].socket);
    ports += (i ? "," : "") + (targets[i].port ? std::to_string(targets[i].port) : std::string());
  }
  if (!hosts.empty()) add("host", hosts);
  if (ports.find_first_not_of(',') != std::string::npos) add("port", ports);
  if (!cfg.database.empty()) add("dbname", cfg.database);
  if (!cfg.username.empty()) add("user", cfg.username);
  if (!cfg.password.empty()) add("password", cfg.password);
  add("client_encoding", "UTF8");
  const driver::Options& opts = target.options;
  // Every other option is a libpq keyword, checked against the engine's list
  // when the Database was built. ssl = true asks for TLS, ssl = false turns it
  // off (libpq would otherwise stay at sslmode=prefer and encrypt when it can).
  for (const auto& [k, v] : opts.all()) {
    if (k == "ssl" || k == "statement_cache") continue;
    add(k, k == "keepalives" ? (v == "true" ? "1" : "0") : v);
  }
  if (opts.given("ssl") && !opts.given("sslmode")) add("sslmode", opts.flag("ssl") ? "require" : "disable");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    key_ptrs.push_back(keys[i].c_str());
    value_ptrs.push_back(values[i].c_str());
  }
  key_ptrs.push_back(nullptr);
  value_ptrs.push_back(nullptr);
  // libpq enforces connect_timeout only in its blocking connect; how long a
  // failed connect took tells a timeout from a refusal (its message does not).
  connect_timeout = std::chrono::seconds(std::max<std::int64_t>(2, opts.integer("connect_timeout")));
  bounded = opts.integer("connect_timeout") > 0;
}

std::string ConnectParams::setup_sql(const driver::Target& target) {
  // Timestamps cross the wire in UTC; pgbouncer tracks TimeZone per client.
  std::string sql = "SET TimeZone = 'UTC'";
  if (target.config.read_only) sql += "; SET default_transaction_read_only = on";
  return sql;
}

[[noreturn]] void ConnectParams::fail(PGconn* conn, bool slow) {
  std::string msg = conn ? PQerrorMessage(conn) : "out of memory";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  EngineError e{ErrorKind::connection, "cannot connect to PostgreSQL: " + msg, "08001", 0, {},
                slow ? ConnectionFailure::timed_out : ConnectionFailure::refused};
  raise(std::move(e));
}

Session::Session(const driver::Target& target) {
  const ConnectParams params(target);
  const auto started = std::chrono::steady_clock::now();
  m_conn = PQconnectdbParams(params.key_ptrs.data(), params.value_ptrs.data(), 0);
  if (!m_conn || PQstatus(m_conn) != CONNECTION_OK) {
    const bool slow = std::chrono::steady_clock::now() - started >= params.connect_timeout - std::chrono::milliseconds(100);
    PGconn* failed = std::exchange(m_conn, nullptr);
    try {
      ConnectParams::fail(failed, slow);
    } catch (...) {
      PQfinish(failed);
      throw;
    }
  }
  try {
    exec_simple(ConnectParams::setup_sql(target).c_str());
  } catch (...) {
    PQfinish(m_conn);
    m_conn = nullptr;
    throw;
  }
  configure(target);
}

Session::Session(PGconn* opened, const driver::Target& target) : m_conn(opened) { configure(target); }

void Session::configure(const driver::Target& target) {
  // Server notices ("table … does not exist, skipping") are not errors; libpq
  // would print them to stderr.
  PQsetNoticeProcessor(m_conn, [](void*, const char*) {}, nullptr);
  const auto cache = target.options.integer("statement_cache");
  m_cache_enabled = cache > 0;
  if (m_cache_enabled) m_cache_cap = static_cast<std::size_t>(cache);
  m_timeout = target.config.query_timeout;
}

// ---- opening a session without blocking ------------------------------------

PendingSession::PendingSession(const driver::Target& target) : m_target(target), m_params(target) {
  m_started = std::chrono::steady_clock::now();
  m_conn = PQconnectStartParams(m_params.key_ptrs.data(), m_params.value_ptrs.data(), 0);
}

PendingSession::~PendingSession() { PQfinish(m_conn); }

driver::AsyncSession::Wait PendingSession::start() {
  if (!m_conn || PQstatus(m_conn) == CONNECTION_BAD) {
    m_step = Step::failed;
    return Wait::done;
  }
  // libpq's protocol: wait until the socket takes writes, then poll.
  return Wait::write;
}

int PendingSession::socket() const noexcept { return m_conn ? PQsocket(m_conn) : -1; }

std::chrono::steady_clock::time_point PendingSession::deadline() const noexcept {
  return m_params.bounded ? m_started + m_params.connect_timeout : std::chrono::steady_clock::time_point::max();
}

driver::AsyncSession::Wait PendingSession::poll() {
  if (m_step == Step::connecting) {
    switch (PQconnectPoll(m_conn)) {
      case PGRES_POLLING_READING: return Wait::read;
      case PGRES_POLLING_WRITING: return Wait::write;
      case PGRES_POLLING_FAILED: m_step = Step::failed; return Wait::done;
      default: break;  // PGRES_POLLING_OK
    }
    // Connected: the session's settings, sent without waiting for the answer.
    if (PQsetnonblocking(m_conn, 1) != 0 || !PQsendQuery(m_conn, ConnectParams::setup_sql(m_target).c_str())) {
      m_step = Step::failed;
      return Wait::done;
    }
    m_step = Step::setting;
    return PQflush(m_conn) == 1 ? Wait::write : Wait::read;
  }
  if (m_step != Step::setting) return Wait::done;
  if (PQflush(m_conn) == 1) return Wait::write;
  if (!PQconsumeInput(m_conn)) {
    m_step = Step::failed;
    return Wait::done;
  }
  while (!PQisBusy(m_conn)) {
    PGresult* r = PQgetResult(m_conn);
    if (!r) {
      m_step = m_setup_error.empty() ? Step::open : Step::failed;
      return Wait::done;
    }
    if (PQresultStatus(r) != PGRES_COMMAND_OK && m_setup_error.empty()) {
      const char* e = PQresultErrorMessage(r);
      m_setup_error = e && *e ? e : "the session's settings were refused";
    }
    PQclear(r);
  }
  return Wait::read;
}

std::unique_ptr<driver::Session> PendingSession::finish() {
  if (m_step == Step::open) {
    PQsetnonblocking(m_conn, 0);  // the blocking side's calls expect it so
    return std::make_unique<Session>(std::exchange(m_conn, nullptr), m_target);
  }
  if (!m_setup_error.empty()) {
    std::string msg = m_setup_error;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    raise(EngineError{ErrorKind::connection, "cannot set up the PostgreSQL session: " + msg, "08001", 0, {},
                      ConnectionFailure::refused});
  }
  if (m_step == Step::failed) ConnectParams::fail(m_conn, false);
  // Still connecting or setting up: the deadline came first.
  raise(EngineError{ErrorKind::connection,
                    "cannot connect to PostgreSQL: no answer within connect_timeout (" +
                        std::to_string(m_params.connect_timeout.count()) + " s)",
                    "08001", 0, {}, ConnectionFailure::timed_out});
}

Session::~Session() {
  PQclear(m_kept);
  PQfinish(m_conn);
}

bool Session::healthy() const noexcept {
  // A session left with a non-blocking statement in flight is not handed out again.
  return m_conn && PQstatus(m_conn) == CONNECTION_OK && m_step == Step::idle;
}

std::string Session::server_version() {
  const char* v = PQparameterStatus(m_conn, "server_version");
  return std::string("PostgreSQL ") + (v ? v : "?");
}

void Session::exec_simple(const char* sql) {
  ResultPtr r(PQexec(m_conn, sql));
  if (failed(r.r)) throw_result_error(m_conn, r.r, sql);
}

void Session::refuse_nul(const Value& v, std::size_t i) {
  const std::string& t = v.raw_text();
  if (std::memchr(t.data(), 0, t.size()) == nullptr) return;
  throw UsageError("value " + std::to_string(i + 1) + " is text holding a NUL byte (at offset " +
                   std::to_string(t.find('\0')) +
                   "), which PostgreSQL text cannot store: it would be cut short there (nothing was sent). Bind it "
                   "as plexus::Bytes for a bytea column, or remove the NUL");
}

void Session::check_count(const Prepared& p, std::size_t given, std::string_view sql) {
  if (p.placeholders == given) return;
  UsageError e("the statement has " + std::to_string(p.placeholders) + " placeholder(s) but " + std::to_string(given) +
               " value(s) were bound (nothing was sent to the server)");
  e.set_sql(sql);
  throw e;
}

void Session::encode(std::span<const Value> params, Encoded& out) {
  std::size_t n = params.size();
  out.storage.resize(n);
  out.values.assign(n, nullptr);
  out.lengths.assign(n, 0);
  out.formats.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const Value& v = params[i];
    auto& s = out.storage[i];
    switch (v.type()) {
      case Value::Type::null: continue;
      case Value::Type::boolean: s = v.raw_bool() ? "t" : "f"; break;
      case Value::Type::integer: {
        char buf[24];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.raw_int());
        s.assign(buf, p);
        break;
      }
      case Value::Type::real: {
        char buf[32];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.raw_real());
        s.assign(buf, p);
        break;
      }
      case Value::Type::text:
        refuse_nul(v, i);
        // Borrow the caller's text: it outlives this call.
        out.values[i] = v.raw_text().c_str();
        out.lengths[i] = static_cast<int>(v.raw_text().size());
        continue;
      case Value::Type::bytes: {
        const auto& b = v.raw_bytes().data;
        out.values[i] = b.empty() ? "" : reinterpret_cast<const char*>(b.data());
        out.lengths[i] = static_cast<int>(b.size());
        out.formats[i] = 1;  // binary: no escaping needed
        continue;
      }
      case Value::Type::timestamp: s = format_timestamp(v.raw_timestamp()) + "+00"; break;
      default: s = v.to_string(); break;
    }
    out.values[i] = s.c_str();
    out.lengths[i] = static_cast<int>(s.size());
  }
}

Prepared& Session::prepare(std::string_view sql, int nparams) {
  if (!m_cache_enabled) {
    m_unnamed.sql = translate_placeholders(sql, &m_unnamed.placeholders);
    check_count(m_unnamed, static_cast<std::size_t>(nparams), sql);
    return m_unnamed;
  }
  if (auto* hit = m_cache.find(sql)) {
    check_count(*hit, static_cast<std::size_t>(nparams), sql);
    return *hit;
  }
  if (m_cache.size() >= m_cache_cap) {
    if (PQtransactionStatus(m_conn) == PQTRANS_IDLE) {
      ResultPtr r(PQexec(m_conn, "DEALLOCATE ALL"));
      m_cache.clear();
    }
  }
  Prepared p;
  p.sql = translate_placeholders(sql, &p.placeholders);
  check_count(p, static_cast<std::size_t>(nparams), sql);  // before the server sees it
  p.name = "plexus_" + std::to_string(++m_next_name);
  ResultPtr r(PQprepare(m_conn, p.name.c_str(), p.sql.c_str(), static_cast<int>(p.placeholders), nullptr));
  if (failed(r.r)) refuse_or_throw(m_conn, r.r, sql);
  return m_cache.insert(sql, std::move(p));
}

PGresult* Session::run(const Prepared& p, const Encoded& enc) {
  int n = static_cast<int>(enc.values.size());
  if (m_timeout.count() == 0) {
    if (p.name.empty())
      return PQexecParams(m_conn, p.sql.c_str(), n, nullptr, enc.values.data(), enc.lengths.data(), enc.formats.data(), 0);
    return PQexecPrepared(m_conn, p.name.c_str(), n, enc.values.data(), enc.lengths.data(), enc.formats.data(), 0);
  }
  // With a query_timeout: send, then wait with a deadline the client enforces
  // itself, so a hung server cannot hang the caller.
  int sent = p.name.empty() ? PQsendQueryParams(m_conn, p.sql.c_str(), n, nullptr, enc.values.data(),
                                                enc.lengths.data(), enc.formats.data(), 0)
                            : PQsendQueryPrepared(m_conn, p.name.c_str(), n, enc.values.data(), enc.lengths.data(),
                                                  enc.formats.data(), 0);
  if (!sent) return nullptr;
  return collect(p.sql);
}

PGresult* Session::collect(std::string_view sql) {
  const auto deadline = std::chrono::steady_clock::now() + m_timeout;
  PGresult* keep = nullptr;  // the first error, else the last result
  for (;;) {
    if (!await_result(m_conn, deadline)) {
      PQclear(keep);
      fail_timeout(sql);
    }
    PGresult* r = PQgetResult(m_conn);
    if (!r) break;
    if (!keep || (!failed(keep) && failed(r))) {
      PQclear(keep);
      keep = r;
    } else {
      PQclear(r);
    }
  }
  return keep;
}

void Session::fail_timeout(std::string_view sql) {
  // Build the error first: `sql` may live in the statement cache cleared below.
  TimeoutError t("no answer within query_timeout_ms = " + std::to_string(m_timeout.count()) +
                 " ms; the statement was cancelled on the server and the session closed");
  t.set_engine("57014", 0);
  t.set_sql(sql);
  // Closing the socket alone leaves the statement running on the server
  // until it next writes to us: ask the server to cancel it first. The
  // request goes over a new connection and is bounded in time, so a hung
  // server cannot hang the caller.
  cancel_bounded(m_conn, kCancelWait);
  PQfinish(m_conn);
  m_conn = nullptr;
  m_cache.clear();
  throw t;
}

PGresult* Session::query(std::string_view sql, std::span<const Value> params, Prepared*& shape) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  Encoded& enc = m_enc;  // reused: no allocation per query once warm
  Prepared* p = &prepare(sql, static_cast<int>(params.size()));
  encode(params, enc);
  PGresult* raw = run(*p, enc);
  if (failed(raw) && !p->name.empty()) {
    const char* st = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    // The table behind a cached plan changed shape: prepare again once, when
    // no transaction was aborted by the failure.
    if (st && std::strcmp(st, "0A000") == 0 && PQtransactionStatus(m_conn) == PQTRANS_IDLE) {
      PQclear(raw);
      std::string name = p->name;
      m_cache.erase(sql);
      ResultPtr d(PQexec(m_conn, ("DEALLOCATE " + name).c_str()));
      p = &prepare(sql, static_cast<int>(params.size()));
      raw = run(*p, enc);
    }
  }
  shape = p->name.empty() ? nullptr : p;
  if (failed(raw)) {
    ResultPtr guard(raw);
    refuse_or_throw(m_conn, raw, sql);
  }
  return raw;
}

Result Session::execute(std::string_view sql, std::span<const Value> params) {
  Prepared* shape = nullptr;
  ResultPtr r(query(sql, params, shape));
  return materialise(r.r, shape);
}

std::uint64_t Session::execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
  Prepared* shape = nullptr;
  ResultPtr r(query(sql, params, shape));
  PGresult* raw = r.r;
  if (PQnfields(raw) == 0) {
    const char* affected = PQcmdTuples(raw);
    return affected && *affected ? std::strtoull(affected, nullptr, 10) : 0;
  }
  const Columns cols = columns_for(raw, shape);
  const std::vector<Oid>& types = shape ? shape->types : m_types;
  const int nrows = PQntuples(raw);
  visit.expect(static_cast<std::uint64_t>(nrows));
  // One buffer for every row of every call: no allocation per row once warm.
  m_row.resize(types.size());
  for (int row = 0; row < nrows; ++row) {
    decode_row(raw, row, types, m_row.data());
    if (!visit(Row(&cols, m_row.data()))) return static_cast<std::uint64_t>(row) + 1;
  }
  return static_cast<std::uint64_t>(nrows);
}

Columns Session::columns_for(PGresult* raw, Prepared* shape) {
  // A named statement's columns cannot change without the server refusing it
  // (0A000, handled in query): build the names once and share them.
  std::vector<Oid>& types = shape ? shape->types : m_types;
  if (shape && shape->described && static_cast<int>(types.size()) == PQnfields(raw)) return shape->columns;
  Columns cols = columns_of(raw, types);
  if (shape) {
    shape->columns = cols;
    shape->described = true;
  }
  return cols;
}

Result Session::materialise(PGresult* raw, Prepared* shape) {
  Result result;
  result.set_columns(columns_for(raw, shape));
  std::vector<Oid>& types = shape ? shape->types : m_types;
  int nrows = PQntuples(raw);
  result.reserve_rows(static_cast<std::size_t>(nrows));
  for (int row = 0; row < nrows; ++row) decode_row(raw, row, types, result.append_row());
  const char* affected = PQcmdTuples(raw);
  if (affected && *affected) result.set_affected_rows(std::strtoull(affected, nullptr, 10));
  return result;
}

PGresult* Session::next_result(std::string_view sql) {
  if (m_timeout.count() > 0 && !await_result(m_conn, std::chrono::steady_clock::now() + m_timeout)) fail_timeout(sql);
  return PQgetResult(m_conn);
}

void Session::abandon() noexcept {
  PQfinish(m_conn);
  m_conn = nullptr;
  m_cache.clear();
}

std::vector<Result> Session::execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  std::vector<Result> out;
  if (sets.empty()) return out;
  const std::size_t nparams = sets.front().size();
  for (std::size_t i = 1; i < sets.size(); ++i)
    if (sets[i].size() != nparams)
      throw UsageError("parameter set " + std::to_string(i) + " of the batch has " + std::to_string(sets[i].size()) +
                       " value(s), the first has " + std::to_string(nparams) + ": every set binds the same statement");
  // Refused values are found before the pipeline starts (nothing is sent).
  for (const auto& set : sets)
    for (std::size_t i = 0; i < set.size(); ++i)
      if (set[i].type() == Value::Type::text) refuse_nul(set[i], i);
  // Prepared before the pipeline starts: PQprepare is synchronous.
  Prepared& p = prepare(sql, static_cast<int>(nparams));
  Prepared* shape = p.name.empty() ? nullptr : &p;  // nothing below adds to the cache, so p stays put
  const std::string& name = p.name;
  const std::string& text = p.sql;
  out.reserve(sets.size());

  if (PQenterPipelineMode(m_conn) != 1) throw_result_error(m_conn, nullptr, sql);
  // Chunks keep what is in flight well inside the socket buffers, so a blocking
  // send can never wait on a server that is itself waiting for us to read.
  constexpr std::size_t kChunk = 128;
  std::exception_ptr first_error;
  try {
    for (std::size_t start = 0; start < sets.size(); start += kChunk) {
      const std::size_t end = std::min(sets.size(), start + kChunk);
      for (std::size_t i = start; i < end; ++i) {
        encode(sets[i], m_enc);
        const int n = static_cast<int>(nparams);
        int sent = name.empty() ? PQsendQueryParams(m_conn, text.c_str(), n, nullptr, m_enc.values.data(),
                                                    m_enc.lengths.data(), m_enc.formats.data(), 0)
                                : PQsendQueryPrepared(m_conn, name.c_str(), n, m_enc.values.data(),
                                                      m_enc.lengths.data(), m_enc.formats.data(), 0);
        if (!sent) throw_result_error(m_conn, nullptr, sql);
      }
      if (PQpipelineSync(m_conn) != 1) throw_result_error(m_conn, nullptr, sql);
      // Each statement answers with its result and a null; the chunk ends with
      // the sync. After a failure the rest of the chunk reports "aborted".
      for (std::size_t i = start; i < end; ++i) {
        ResultPtr r(next_result(sql));
        if (!r.r) throw_result_error(m_conn, nullptr, sql);
        auto st = PQresultStatus(r.r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
          if (!first_error) out.push_back(materialise(r.r, shape));
        } else if (st != PGRES_PIPELINE_ABORTED && !first_error) {
          try {
            refuse_or_throw(m_conn, r.r, sql);
          } catch (Error&) {
            first_error = std::current_exception();
          }
        }
        ResultPtr end_of_statement(next_result(sql));
      }
      ResultPtr sync(next_result(sql));
      if (!sync.r || PQresultStatus(sync.r) != PGRES_PIPELINE_SYNC) throw_result_error(m_conn, sync.r, sql);
      if (first_error) break;
    }
  } catch (const TimeoutError&) {
    throw;  // the session is already closed
  } catch (...) {
    // The protocol state is unknown mid-pipeline: close rather than reuse.
    abandon();
    throw;
  }
  PQexitPipelineMode(m_conn);
  if (first_error) std::rethrow_exception(first_error);
  return out;
}

std::unique_ptr<RowSource> Session::stream(std::string_view sql, std::span<const Value> params) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  Prepared shape;
  shape.sql = translate_placeholders(sql, &shape.placeholders);
  check_count(shape, params.size(), sql);
  Encoded enc;
  encode(params, enc);
  const std::string& translated = shape.sql;
  int ok = PQsendQueryParams(m_conn, translated.c_str(), static_cast<int>(params.size()), nullptr, enc.values.data(),
                             enc.lengths.data(), enc.formats.data(), 0);
  if (!ok) throw_result_error(m_conn, nullptr, sql);
  if (!PQsetSingleRowMode(m_conn)) {
    while (PGresult* r = PQgetResult(m_conn)) PQclear(r);
    throw UsageError("PostgreSQL refused single-row mode for this query");
  }
  return std::make_unique<Stream>(*this, std::string(sql));
}

std::uint64_t Session::execute_script(std::string_view sql) {
  if (!m_conn) throw ConnectionError("the PostgreSQL session is closed");
  // The simple query protocol splits the script on the server and runs it as
  // one implicit transaction (unless it holds its own BEGIN/COMMIT).
  const std::string text(sql);
  if (!PQsendQuery(m_conn, text.c_str())) throw_result_error(m_conn, nullptr, sql);
  std::uint64_t changed = 0;
  PGresult* first_error = nullptr;
  for (;;) {
    PGresult* r = next_result(sql);
    if (!r) break;
    if (failed(r)) {
      if (!first_error) first_error = r;
      else PQclear(r);
      continue;
    }
    const char* n = PQcmdTuples(r);
    if (n && *n && PQnfields(r) == 0) changed += std::strtoull(n, nullptr, 10);
    PQclear(r);
  }
  if (first_error) {
    ResultPtr guard(first_error);
    throw_result_error(m_conn, first_error, sql);
  }
  return changed;
}

bool Session::alive() noexcept { return healthy() && detail::socket_quiet(PQsocket(m_conn)); }

void Session::begin() { exec_simple("BEGIN"); }

void Session::commit() {
  ResultPtr r(PQexec(m_conn, "COMMIT"));
  if (failed(r.r)) throw_result_error(m_conn, r.r, "COMMIT");
  check_committed(r.r);
}

void Session::check_committed(PGresult* r) {
  // COMMIT of a transaction that failed earlier reports ROLLBACK: surface it.
  if (std::strcmp(PQcmdStatus(r), "ROLLBACK") == 0)
    raise(EngineError{ErrorKind::other,
                      "the server rolled the transaction back instead of committing it (an earlier statement failed)",
                      "25P02", 0, "COMMIT"});
}

}  // namespace plexus::engine::postgres

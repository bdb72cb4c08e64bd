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

class Stream final : public RowSource {
 public:
  explicit Stream(std::unique_ptr<Statement> st) : m_st(std::move(st)) {}
  ~Stream() override { m_st->finish(); }
  const Columns& columns() const override { return m_st->columns(); }
  bool next(std::vector<Value>& row) override { return m_st->fetch(row); }

 private:
  std::unique_ptr<Statement> m_st;
};

}  // namespace

// ---- Session ---------------------------------------------------------------

Handle::Handle(const driver::Target& target) {
  const ConnectionConfig& cfg = target.config;
  const driver::Options& opts = target.options;
  db = mysql_init(nullptr);
  if (!db) throw ConnectionError("cannot allocate a MySQL client handle");
  mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  connect_timeout = static_cast<unsigned>(opts.integer("connect_timeout"));
  mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  if (cfg.query_timeout.count() > 0) {
    // The client library counts whole seconds per socket read/write.
    unsigned secs = static_cast<unsigned>((cfg.query_timeout.count() + 999) / 1000);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &secs);
  }
  my_bool report = 1;
  mysql_options(db, MYSQL_REPORT_DATA_TRUNCATION, &report);
  // The non-blocking calls (async.cpp) need their context made before the
  // connect; the blocking calls work the same with it.
  mysql_options(db, MYSQL_OPT_NONBLOCK, nullptr);
  // The client's own packet limit (16 MB by default) would refuse large values
  // the server accepts; the server's max_allowed_packet is the one that counts.
  unsigned long max_packet = 1UL << 30;
  mysql_options(db, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
  // The TLS settings mean what they mean for PostgreSQL (docs/engines.md):
  // disable (ssl = false) never encrypts; prefer (the default) encrypts when
  // the server offers it; require (ssl = true) refuses a session that is not
  // encrypted; verify-ca and verify-full also check the server's certificate
  // against sslrootcert (Connector/C checks the host name in both).
  mode = opts.has("sslmode") ? opts.text("sslmode")
         : opts.has("ssl")   ? std::string(opts.flag("ssl") ? "require" : "disable")
                             : std::string("prefer");
  tls_wanted = mode != "disable";
  tls_required = tls_wanted && mode != "prefer";
  if (tls_wanted) {
    const auto file = [&](const char* key) { return opts.has(key) ? opts.text(key) : std::string(); };
    const std::string key = file("sslkey"), cert = file("sslcert"), ca = file("sslrootcert");
    const auto or_null = [](const std::string& v) { return v.empty() ? nullptr : v.c_str(); };
    mysql_ssl_set(db, or_null(key), or_null(cert), or_null(ca), nullptr, nullptr);
    // Connector/C asks the server for TLS only with this set (file names
    // alone do not), and still goes on in plain text when the server offers
    // none: prefer as it is; the required modes are checked once connected.
    my_bool ask = 1;
    mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &ask);
    my_bool verify = mode == "verify-full" || mode == "verify-ca" || mode == "verify_identity";
    mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  ep = target.host ? target.host : (cfg.hosts.empty() ? nullptr : &cfg.hosts.front());
  host = ep && ep->socket.empty() && !ep->host.empty() ? ep->host.c_str() : nullptr;
  socket = ep && !ep->socket.empty() ? ep->socket.c_str() : nullptr;
  port = ep ? ep->port : 0;
}

Handle::~Handle() {
  if (db) mysql_close(db);
}

[[noreturn]] void Handle::fail(bool slow) {
  unsigned code = mysql_errno(db);
  std::string msg = mysql_error(db), state = mysql_sqlstate(db);
  mysql_close(std::exchange(db, nullptr));
  // Whatever the code (2003 nothing listening, 1045 login, 1049 database,
  // 2013 handshake), a session that did not open was refused, unless it ran
  // into connect_timeout.
  EngineError e{ErrorKind::connection, "cannot connect to MySQL/MariaDB: " + msg, state == "HY000" ? "08001" : state,
                static_cast<int>(code), {}, slow ? ConnectionFailure::timed_out : ConnectionFailure::refused};
  raise(std::move(e));
}

Session::Session(const driver::Target& target) {
  Handle h(target);
  const ConnectionConfig& cfg = target.config;
  const auto started = std::chrono::steady_clock::now();
  // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, as PostgreSQL
  // and SQLite do, not only those whose values changed.
  if (!mysql_real_connect(h.db, h.host, cfg.username.c_str(), cfg.password.c_str(),
                          cfg.database.empty() ? nullptr : cfg.database.c_str(), h.port, h.socket, kClientFlags))
    h.fail(std::chrono::steady_clock::now() - started >= std::chrono::seconds(h.connect_timeout) - std::chrono::milliseconds(100));
  adopt(h, target);
  try {
    for (const auto& sql : setup_sql(target)) simple(sql.c_str());
  } catch (...) {
    mysql_close(m_db);
    m_db = nullptr;
    throw;
  }
}

Session::Session(Handle& opened, const driver::Target& target) { adopt(opened, target); }

std::vector<std::string> Session::setup_sql(const driver::Target& target) {
  std::vector<std::string> out{"SET time_zone = '+00:00'"};
  if (target.config.read_only) out.emplace_back("SET SESSION TRANSACTION READ ONLY");
  return out;
}

void Session::adopt(Handle& h, const driver::Target& target) {
  const ConnectionConfig& cfg = target.config;
  // Connector/C falls back to plain text when the server offers no TLS even
  // with TLS enforced: the session itself says whether it is encrypted.
  if (h.tls_required && mysql_get_ssl_cipher(h.db) == nullptr) {
    raise({ErrorKind::connection,
           "cannot connect to MySQL/MariaDB: TLS is required (sslmode = " + h.mode +
               ") but the server did not encrypt the session; turn TLS on at the server (ssl_cert, ssl_key) or "
               "set sslmode = prefer to accept a plain session",
           "08001", 0, {}, ConnectionFailure::refused});
  }
  m_db = std::exchange(h.db, nullptr);
  m_tls_required = h.tls_required;
  if (cfg.query_timeout.count() > 0) m_timeout = cfg.query_timeout;
  m_cache_cap = static_cast<std::size_t>(target.options.integer("statement_cache"));
  m_encrypted = mysql_get_ssl_cipher(m_db) != nullptr;
  m_mariadb = std::string_view(mysql_get_server_info(m_db)).find("MariaDB") != std::string_view::npos;
  m_thread_id = mysql_thread_id(m_db);
  if (h.ep) m_target = *h.ep;
  m_user = cfg.username;
  m_password = cfg.password;
}

// ---- opening a session without blocking ------------------------------------

namespace {
driver::AsyncSession::Wait wait_for(int status) {
  if (status == 0) return driver::AsyncSession::Wait::done;
  if (status & MYSQL_WAIT_WRITE) return driver::AsyncSession::Wait::write;
  return driver::AsyncSession::Wait::read;  // read, or only Connector/C's own timeout (ours is the deadline)
}
int ready_for(driver::AsyncSession::Wait w) { return w == driver::AsyncSession::Wait::write ? MYSQL_WAIT_WRITE : MYSQL_WAIT_READ; }
}  // namespace

PendingSession::PendingSession(const driver::Target& target)
    : m_target(target), m_handle(target), m_setup(Session::setup_sql(target)) {
  m_deadline = m_handle.connect_timeout > 0
                   ? std::chrono::steady_clock::now() + std::chrono::seconds(m_handle.connect_timeout)
                   : std::chrono::steady_clock::time_point::max();
}

driver::AsyncSession::Wait PendingSession::start() {
  const ConnectionConfig& cfg = m_target.config;
  MYSQL* ret = nullptr;
  const int status = mysql_real_connect_start(&ret, m_handle.db, m_handle.host, cfg.username.c_str(), cfg.password.c_str(),
                                              cfg.database.empty() ? nullptr : cfg.database.c_str(), m_handle.port,
                                              m_handle.socket, kClientFlags);
  return step(status, ret != nullptr);
}

driver::AsyncSession::Wait PendingSession::poll() {
  if (m_step == Step::connecting) {
    MYSQL* ret = nullptr;
    const int status = mysql_real_connect_cont(&ret, m_handle.db, ready_for(m_waiting));
    return step(status, ret != nullptr);
  }
  if (m_step == Step::setting) {
    int err = 0;
    const int status = mysql_real_query_cont(&err, m_handle.db, ready_for(m_waiting));
    return step(status, err == 0);
  }
  return Wait::done;
}

driver::AsyncSession::Wait PendingSession::step(int status, bool ok) {
  if (status != 0) return m_waiting = wait_for(status);
  if (!ok) {
    m_step = Step::failed;
    return Wait::done;
  }
  // Connected, or one setting answered: the next setting, or open.
  if (m_step == Step::connecting) m_step = Step::setting;
  if (m_next < m_setup.size()) {
    const std::string& sql = m_setup[m_next++];
    int err = 0;
    const int st = mysql_real_query_start(&err, m_handle.db, sql.c_str(), static_cast<unsigned long>(sql.size()));
    return step(st, err == 0);
  }
  m_step = Step::open;
  return Wait::done;
}

int PendingSession::socket() const noexcept { return m_handle.db ? static_cast<int>(mysql_get_socket(m_handle.db)) : -1; }

std::unique_ptr<driver::Session> PendingSession::finish() {
  if (m_step == Step::open) return std::make_unique<Session>(m_handle, m_target);
  if (m_step == Step::failed) m_handle.fail(false);
  raise(EngineError{ErrorKind::connection,
                    "cannot connect to MySQL/MariaDB: no answer within connect_timeout (" +
                        std::to_string(m_handle.connect_timeout) + " s)",
                    "08001", 0, {}, ConnectionFailure::timed_out});
}

Session::~Session() {
  m_cache.clear();
  if (m_db) mysql_close(m_db);
}

void Session::note_error(const Error& e, std::string_view sql) noexcept {
  // A lost connection, a timeout (the socket was closed) or a protocol error
  // (errors.cpp counts those as lost) poisons the session: never reused.
  if (e.is_connection_error() || e.is_timeout()) m_broken = true;
  // A cached statement whose table changed its columns cannot be used again
  // (Connector/C: CR_NEW_STMT_METADATA): closing it reads the rows left
  // pending, so the session stays in step, and the next call prepares anew.
  if (e.engine_code() == CR_NEW_STMT_METADATA && !sql.empty()) m_cache.erase(sql);
}

void Session::kill_query() noexcept {
  MYSQL* k = mysql_init(nullptr);
  if (!k) return;
  unsigned limit = 1;
  mysql_options(k, MYSQL_OPT_CONNECT_TIMEOUT, &limit);
  mysql_options(k, MYSQL_OPT_READ_TIMEOUT, &limit);
  mysql_options(k, MYSQL_OPT_WRITE_TIMEOUT, &limit);
  const Endpoint& ep = m_target;
  if (mysql_real_connect(k, ep.socket.empty() ? ep.host.c_str() : nullptr, m_user.c_str(), m_password.c_str(), nullptr,
                         ep.port, ep.socket.empty() ? nullptr : ep.socket.c_str(), 0)) {
    const std::string sql = "KILL QUERY " + std::to_string(m_thread_id);
    mysql_real_query(k, sql.data(), sql.size());
  }
  mysql_close(k);
}

std::vector<std::string> Session::transaction_sql(TxStep step, const driver::TransactionSpec& spec) const {
  switch (step) {
    case TxStep::begin: {
      std::vector<std::string> out;
      if (spec.isolation != driver::Isolation::engine_default)
        out.push_back("SET TRANSACTION ISOLATION LEVEL " + std::string(driver::to_string(spec.isolation)));
      out.emplace_back(spec.read_only ? "START TRANSACTION READ ONLY" : "START TRANSACTION");
      return out;
    }
    case TxStep::commit: return {"COMMIT"};
    case TxStep::rollback: return {"ROLLBACK"};
  }
  return {};
}

void Session::begin(const driver::TransactionSpec& spec) {
  for (const auto& sql : transaction_sql(TxStep::begin, spec)) simple(sql);
}

namespace {
/// 'gtrid','bqual', checked to be plain characters (they are written into the statement).
std::string xid_sql(const driver::Xid& x) {
  for (const std::string* part : {&x.gtrid, &x.bqual})
    for (char c : *part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-' && c != ':')
        throw UsageError("a transaction id may hold letters, digits and _ . - : only");
  return "'" + x.gtrid + "','" + x.bqual + "'";
}
}  // namespace

std::string Session::xa_statement(XaStep step, const driver::Xid& xid) const {
  const std::string x = xid_sql(xid);
  switch (step) {
    case XaStep::begin: return "XA START " + x;
    case XaStep::prepare: return "XA END " + x + "; XA PREPARE " + x;
    case XaStep::commit: return "XA COMMIT " + x;
    case XaStep::rollback: return "XA END " + x + "; XA ROLLBACK " + x;
    case XaStep::rollback_prepared: return "XA ROLLBACK " + x;
  }
  return {};
}

void Session::xa_begin(const driver::Xid& xid, const driver::TransactionSpec& spec) {
  if (auto why = refuses_two_phase_commit()) throw UsageError("cannot begin a two-phase commit branch: " + *why);
  if (spec.isolation != driver::Isolation::engine_default)
    simple("SET TRANSACTION ISOLATION LEVEL " + std::string(driver::to_string(spec.isolation)));
  if (spec.read_only) simple("SET TRANSACTION READ ONLY");
  simple("XA START " + xid_sql(xid));
}

void Session::xa_prepare(const driver::Xid& xid) {
  simple("XA END " + xid_sql(xid));
  simple("XA PREPARE " + xid_sql(xid));
}

void Session::xa_commit(const driver::Xid& xid) { simple("XA COMMIT " + xid_sql(xid)); }

void Session::xa_rollback(const driver::Xid& xid, bool prepared) {
  if (!prepared) {
    try {
      simple("XA END " + xid_sql(xid));  // an active branch must end before it rolls back
    } catch (const Error& e) {
      if (e.is_connection_error()) throw;  // XAER_RMFAIL when already ended: go on
    }
  }
  simple("XA ROLLBACK " + xid_sql(xid));
}

std::vector<driver::Xid> Session::xa_recover(std::string_view prefix) {
  std::vector<driver::Xid> out;
  const Result r = text_query("XA RECOVER");
  for (Row row : r) {
    const auto glen = static_cast<std::size_t>(row[1].as<std::int64_t>());
    const auto blen = static_cast<std::size_t>(row[2].as<std::int64_t>());
    const std::string data = row[3].as<std::string>();
    if (data.size() < glen + blen) continue;
    driver::Xid x{data.substr(0, glen), data.substr(glen, blen)};
    if (x.gtrid.starts_with(prefix)) out.push_back(std::move(x));
  }
  return out;
}

bool Session::alive() noexcept { return healthy() && detail::socket_quiet(static_cast<int>(mysql_get_socket(m_db))); }

std::uint64_t Session::execute_script(std::string_view sql) {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  // The server splits the script: multi-statement mode is on for this call only.
  if (mysql_set_server_option(m_db, MYSQL_OPTION_MULTI_STATEMENTS_ON)) fail(sql);
  struct Off {
    MYSQL* db;
    ~Off() { mysql_set_server_option(db, MYSQL_OPTION_MULTI_STATEMENTS_OFF); }
  };
  std::uint64_t changed = 0;
  {
    Off off{m_db};
    int status = mysql_real_query(m_db, sql.data(), sql.size());
    if (status) fail(sql);
    for (;;) {
      if (MYSQL_RES* r = mysql_store_result(m_db)) mysql_free_result(r);
      else if (mysql_field_count(m_db) != 0) fail(sql);
      else changed += mysql_affected_rows(m_db);
      status = mysql_next_result(m_db);
      if (status > 0) fail(sql);  // a statement failed: the rest did not run
      if (status < 0) break;
    }
  }
  return changed;
}

void Session::fail(std::string_view sql) {
  try {
    throw_error(mysql_errno(m_db), mysql_sqlstate(m_db), mysql_error(m_db), sql);
  } catch (const Error& e) {
    note_error(e);
    throw;
  }
}

void Session::simple(std::string_view sql) {
  if (mysql_real_query(m_db, sql.data(), sql.size())) fail(sql);
  if (MYSQL_RES* r = mysql_store_result(m_db)) mysql_free_result(r);
}

Result Session::text_query(std::string_view sql) {
  if (mysql_real_query(m_db, sql.data(), sql.size())) fail(sql);
  Result result;
  MYSQL_RES* res = mysql_store_result(m_db);
  if (!res) {
    if (mysql_field_count(m_db) != 0) fail(sql);
    result.set_affected_rows(mysql_affected_rows(m_db));
    result.set_last_insert_id(static_cast<std::int64_t>(mysql_insert_id(m_db)));
    return result;
  }
  unsigned n = mysql_num_fields(res);
  MYSQL_FIELD* f = mysql_fetch_fields(res);
  std::vector<std::string> names;
  for (unsigned i = 0; i < n; ++i) names.emplace_back(f[i].name, f[i].name_length);
  result.set_columns(Columns(std::move(names)));
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    unsigned long* len = mysql_fetch_lengths(res);
    Value* out = result.append_row();
    for (unsigned i = 0; i < n; ++i)
      if (row[i]) out[i] = Value(std::string(row[i], len[i]));
  }
  mysql_free_result(res);
  return result;
}

Statement& Session::cached(std::string_view sql) {
  if (auto* hit = m_cache.find(sql)) return **hit;
  return keep(sql, std::make_unique<Statement>(m_db, sql));
}

Statement& Session::keep(std::string_view sql, std::unique_ptr<Statement> st) {
  if (m_cache.size() >= m_cache_cap) m_cache.clear();
  return *m_cache.insert(sql, std::move(st));
}

template <class Body>
bool Session::run_statement(std::string_view sql, std::span<const Value> params, Body&& body) {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  Statement* st = nullptr;
  try {
    st = &cached(sql);
  } catch (const Error& e) {
    note_error(e);
    // Statements the binary protocol cannot prepare run as plain text.
    if (e.engine_code() == 1295 && params.empty()) return false;
    throw;
  }
  const auto started = std::chrono::steady_clock::now();
  try {
    st->execute(params, true);
    body(*st);
    return true;
  } catch (const Error& e) {
    note_error(e, sql);
    // The socket read timed out (query_timeout): say so, rather than "lost".
    if (e.is_connection_lost() && m_timeout.count() > 0 &&
        std::chrono::steady_clock::now() - started >= m_timeout - std::chrono::milliseconds(50)) {
      TimeoutError t("no answer within query_timeout_ms = " + std::to_string(m_timeout.count()) +
                     " ms; the statement was stopped on the server and the session closed");
      t.set_engine("57014", e.engine_code());
      t.set_sql(sql);
      // The server goes on with the statement until it next writes to the
      // closed socket: stop it from another session (bounded in time).
      kill_query();
      throw t;
    }
    throw;
  }
}

Result Session::buffered_result(Statement& st) {
  Result result(st.columns());
  if (st.column_count()) {
    // Buffered: the row count is known, so every appended row is filled.
    auto rows = static_cast<std::size_t>(st.buffered_rows());
    result.reserve_rows(rows);
    for (std::size_t i = 0; i < rows; ++i)
      if (!st.fetch_into(result.append_row())) throw Error(ErrorKind::other, "MySQL returned fewer rows than it announced");
    st.finish();
  } else {
    result.set_affected_rows(st.affected_rows());
    if (auto id = st.insert_id()) result.set_last_insert_id(static_cast<std::int64_t>(id));
  }
  return result;
}

Result Session::execute(std::string_view sql, std::span<const Value> params) {
  Result result;
  const bool prepared = run_statement(sql, params, [&](Statement& st) { result = buffered_result(st); });
  return prepared ? result : text_query(sql);
}

std::uint64_t Session::execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
  std::uint64_t count = 0;
  const bool prepared = run_statement(sql, params, [&](Statement& st) {
    if (!st.column_count()) {
      count = st.affected_rows();
      return;
    }
    struct Done {
      Statement& st;
      ~Done() { st.finish(); }  // also when the visitor throws
    } done{st};
    visit.expect(st.buffered_rows());
    // One buffer for every row of every call: no allocation per row once warm.
    m_row.resize(st.column_count());
    while (st.fetch_into(m_row.data())) {
      ++count;
      if (!visit(Row(&st.columns(), m_row.data()))) break;  // Done frees the rest
    }
  });
  return prepared ? count : visit_rows(text_query(sql), visit);
}

std::unique_ptr<RowSource> Session::stream(std::string_view sql, std::span<const Value> params) {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  try {
    auto st = std::make_unique<Statement>(m_db, sql);
    st->execute(params, false);
    return std::make_unique<Stream>(std::move(st));
  } catch (const Error& e) {
    note_error(e);
    throw;
  }
}

bool Session::galera() {
  if (!m_galera) {
    Result r = text_query("SHOW GLOBAL VARIABLES LIKE 'wsrep_on'");
    m_galera = !r.empty() && r[0][1].to_string() == "ON";
  }
  return *m_galera;
}

bool Session::synced() {
  Result r = text_query("SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'");
  return !r.empty() && r[0][1].to_string() == "Synced";
}

Session::NodeRole Session::node_role() {
  if (galera()) return synced() ? NodeRole::writable : NodeRole::unavailable;
  Result r = text_query("SELECT @@read_only");
  return r[0][0].to_string() == "0" ? NodeRole::writable : NodeRole::read_only;
}

bool Session::serves_reads() { return !galera() || synced(); }

std::optional<std::string> Session::refuses_two_phase_commit() {
  if (!galera()) return std::nullopt;
  return "it is a node of a Galera cluster, and Galera refuses XA transactions (ERROR 1235)";
}

std::optional<std::string> Session::replication_position() {
  // On Galera every node applies a commit in the cluster's order: a causal
  // read waits with wsrep_sync_wait instead of a GTID (wait_for_position).
  if (galera()) return std::string("wsrep");
  if (!m_mariadb) return std::nullopt;  // MySQL's GTID sets are not supported yet: callers use the primary
  auto gtid = execute("SELECT @@last_gtid", {})[0][0];
  if (gtid.is_null() || gtid.to_string().empty()) return std::nullopt;
  return gtid.to_string();
}

bool Session::wait_for_position(const std::string& position, std::chrono::milliseconds timeout) {
  if (position == "wsrep") {
    if (!galera()) return false;
    // The statement after SET waits until this node has applied everything
    // the cluster committed before it started (bounded by the server's
    // wsrep_sync_wait timeout, not by `timeout`).
    simple("SET SESSION wsrep_sync_wait = 1");
    try {
      (void)text_query("SELECT 1");
    } catch (...) {
      simple("SET SESSION wsrep_sync_wait = 0");
      throw;
    }
    simple("SET SESSION wsrep_sync_wait = 0");
    return true;
  }
  if (!m_mariadb) return false;
  std::vector<Value> args{Value(position), Value(static_cast<double>(timeout.count()) / 1000.0)};
  return execute("SELECT MASTER_GTID_WAIT(?, ?)", args)[0][0].as<std::int64_t>() == 0;
}

std::optional<std::chrono::milliseconds> Session::replica_lag() {
  Result r = text_query("SHOW SLAVE STATUS");
  if (r.empty()) return std::chrono::milliseconds(0);  // not a replica
  auto idx = r.columns().find("Seconds_Behind_Master");
  if (!idx || r[0][*idx].is_null()) return std::nullopt;  // replication stopped: lag unknown
  return std::chrono::milliseconds(r[0][*idx].as<std::int64_t>() * 1000);
}

void Session::ping() {
  if (!m_db) throw ConnectionError("the MySQL session is closed");
  if (mysql_ping(m_db)) fail("ping");
}

std::string Session::server_version() { return std::string("MariaDB/MySQL ") + mysql_get_server_info(m_db); }

}  // namespace plexus::engine::mysql

// SQLSTATE → core error kinds for PostgreSQL.
#include "drivers/postgres/errors.hpp"

#include <string>

namespace plexus::engine::postgres {

ErrorKind kind_for_sqlstate(std::string_view s) noexcept {
  if (s.size() != 5) return ErrorKind::other;
  if (s.starts_with("08")) return ErrorKind::connection;
  if (s == "40001" || s == "40P01") return ErrorKind::retryable;
  if (s.starts_with("23")) return ErrorKind::constraint;
  if (s == "25006") return ErrorKind::read_only;
  if (s == "57014" || s == "55P03") return ErrorKind::timeout;
  if (s == "57P01" || s == "57P02" || s == "57P03") return ErrorKind::connection;  // server shutting down
  if (s.starts_with("42")) return ErrorKind::syntax;
  if (s.starts_with("22")) return ErrorKind::conversion;
  return ErrorKind::other;
}

void throw_result_error(PGconn* conn, const PGresult* res, std::string_view sql) {
  EngineError e;
  e.sql = std::string(sql);
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = primary ? primary : (conn ? PQerrorMessage(conn) : "unknown error");
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (res) {
    if (const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) msg += std::string(" (") + detail + ")";
  }
  e.message = msg.empty() ? "the server closed the connection" : msg;
  if (state) {
    e.sqlstate = state;
    e.kind = kind_for_sqlstate(e.sqlstate);
  }
  // No SQLSTATE and a dead socket: the connection is gone.
  if (conn && PQstatus(conn) == CONNECTION_BAD) {
    e.kind = ErrorKind::connection;
    if (e.sqlstate.empty()) e.sqlstate = "08006";
  }
  raise(std::move(e));
}

}  // namespace plexus::engine::postgres

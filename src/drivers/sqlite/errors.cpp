// SQLite result codes → core error kinds (with the SQLSTATE the other engines
// would report, so callers can match on one code everywhere).
#include "drivers/sqlite/errors.hpp"

#include "plexus/core/error.hpp"

namespace plexus::engine::sqlite {

void throw_error(sqlite3* db, int rc, std::string_view sql) {
  EngineError e;
  e.code = rc;
  e.message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  e.sql = std::string(sql);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      e.kind = ErrorKind::constraint;
      switch (rc) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY: e.sqlstate = "23505"; break;
        case SQLITE_CONSTRAINT_FOREIGNKEY: e.sqlstate = "23503"; break;
        case SQLITE_CONSTRAINT_NOTNULL: e.sqlstate = "23502"; break;
        case SQLITE_CONSTRAINT_CHECK: e.sqlstate = "23514"; break;
        default: e.sqlstate = "23000";
      }
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      // Another connection holds the lock (past busy_timeout) or our read
      // snapshot is stale: the transaction may be run again, as after a
      // deadlock elsewhere.
      e.kind = ErrorKind::retryable;
      e.sqlstate = "40001";
      break;
    case SQLITE_INTERRUPT: e.kind = ErrorKind::timeout; e.sqlstate = "57014"; break;
    case SQLITE_READONLY: e.kind = ErrorKind::read_only; e.sqlstate = "25006"; break;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      e.kind = ErrorKind::connection;
      e.failure = ConnectionFailure::refused;  // the file could not be opened as a database
      e.sqlstate = "08001";
      break;
    case SQLITE_ERROR: e.kind = ErrorKind::syntax; e.sqlstate = "42000"; break;
    case SQLITE_SCHEMA:
      // A prepare while another connection kept changing the schema: SQLite
      // reports the last prepare's own error ("no such table") with this
      // code; only its plain message means the schema changed once more.
      if (e.message == sqlite3_errstr(SQLITE_SCHEMA)) {
        e.kind = ErrorKind::retryable;
        e.sqlstate = "40001";
      } else {
        e.kind = ErrorKind::syntax;
        e.sqlstate = "42000";
      }
      break;
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
    case SQLITE_MISMATCH: e.kind = ErrorKind::usage; break;
    case SQLITE_TOOBIG: e.kind = ErrorKind::other; e.sqlstate = "54000"; break;
    default: e.kind = ErrorKind::other;
  }
  raise(std::move(e));
}

}  // namespace plexus::engine::sqlite

// MySQL / MariaDB error numbers → core error kinds.
#include "drivers/mysql/errors.hpp"

#include <string>

namespace plexus::engine::mysql {

ErrorKind kind_for_errno(unsigned code) noexcept {
  switch (code) {
    case 2002: case 2003: case 2005: case 2006: case 2013: case 2026: case 2055:  // client: can't connect / lost
    case 2014: case 2027: case 2048:  // out of step with the server, malformed packet, bad handle: never reuse
    case 1040: case 1053: case 1927: case 4031:  // too many connections, shutdown, killed, idle timeout
      return ErrorKind::connection;
    case 1213: case 1205: case 1614:  // deadlock, lock wait timeout, XA deadlock
      return ErrorKind::retryable;
    case 1022: case 1048: case 1062: case 1169: case 1216: case 1217: case 1451: case 1452: case 1557: case 1586:
    case 1364: case 3819: case 4025:  // duplicates, not null / no default, foreign keys, checks
      return ErrorKind::constraint;
    case 1290: case 1792: case 1836:  // --read-only, read-only transaction, read-only mode
      return ErrorKind::read_only;
    case 1969: case 3024: case 1317:  // statement timeout, max_execution_time, interrupted
      return ErrorKind::timeout;
    case 1044: case 1045: case 1049: case 1251:  // access denied, unknown database, auth protocol
      return ErrorKind::connection;
    case 1054: case 1064: case 1146: case 1149: case 1109: case 1050: case 1051: case 1060: case 1091:
      return ErrorKind::syntax;
    case 1264: case 1265: case 1292: case 1366: case 1406:  // out of range, truncated, bad value
      return ErrorKind::conversion;
    default: return ErrorKind::other;
  }
}

void throw_error(unsigned code, std::string_view sqlstate, std::string_view message, std::string_view sql) {
  EngineError e;
  e.kind = kind_for_errno(code);
  e.code = static_cast<int>(code);
  e.sqlstate = sqlstate == "HY000" || sqlstate == "00000" ? std::string() : std::string(sqlstate);
  e.message = std::string(message);
  e.sql = std::string(sql);
  raise(std::move(e));
}

}  // namespace plexus::engine::mysql

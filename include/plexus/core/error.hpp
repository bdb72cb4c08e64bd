// The one error type of Plexus, with its kinds as properties.
//
// Every error knows where it happened (connection, host, role, shard), what
// the engine said (SQLSTATE and/or engine code) and the SQL text — never the
// bound values, which may hold secrets. Retry and failover code asks the
// properties (`is_connection_lost()`, `is_retryable()`…); `catch` can also
// use the typed subclasses.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plexus {

class Value;

enum class ErrorKind : std::uint8_t {
  other,        ///< anything not classified below
  config,       ///< bad configuration, URL or unknown connection name
  connection,   ///< could not connect, or the connection was lost
  constraint,   ///< unique, foreign key, not null or check violation
  retryable,    ///< serialization failure or deadlock: the transaction may be retried
  timeout,      ///< statement, lock or pool-acquire timeout
  read_only,    ///< a write reached a read-only server, replica or connection
  syntax,       ///< the SQL is malformed or names something that does not exist
  conversion,   ///< a Value could not be converted to the requested type
  usage,        ///< the API was used in a way it does not allow
  not_found,    ///< find_or_fail() and friends found no row
};

std::string_view to_string(ErrorKind kind) noexcept;

/// What went wrong with a connection-kind error (the seed tells ECONNREFUSED
/// from PROTOCOL_CONNECTION_LOST; so does Plexus).
enum class ConnectionFailure : std::uint8_t {
  none,       ///< not a connection error
  refused,    ///< a session could not be opened: nothing listens, or the server
              ///< refused the login, the database or the TLS handshake
  lost,       ///< an open session died while in use (server restart, kill, network)
  timed_out,  ///< opening a session took longer than connect_timeout
};

std::string_view to_string(ConnectionFailure f) noexcept;

/// Where an error happened; filled in by the layer that knows it.
struct ErrorContext {
  std::string connection;  ///< logical connection name, e.g. "users_db"
  std::string host;        ///< "127.0.0.1:5432", a socket or a file (never credentials)
  std::string role;        ///< "primary" or "replica"
  std::string shard;       ///< shard name when routed by a shard group
};

class Error : public std::exception {
 public:
  Error(ErrorKind kind, std::string message);

  [[nodiscard]] const char* what() const noexcept override { return m_what.c_str(); }

  [[nodiscard]] ErrorKind kind() const noexcept { return m_kind; }
  /// The engine's or Plexus's own message, without context.
  [[nodiscard]] const std::string& message() const noexcept { return m_message; }
  [[nodiscard]] const ErrorContext& context() const noexcept { return m_context; }
  [[nodiscard]] const std::string& connection() const noexcept { return m_context.connection; }
  [[nodiscard]] const std::string& host() const noexcept { return m_context.host; }
  [[nodiscard]] const std::string& role() const noexcept { return m_context.role; }
  [[nodiscard]] const std::string& shard() const noexcept { return m_context.shard; }
  /// Five-character SQLSTATE when the engine reports one ("" otherwise).
  [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }
  /// The engine's numeric error code (SQLite extended result code, MySQL errno), 0 if none.
  [[nodiscard]] int engine_code() const noexcept { return m_engine_code; }
  /// The SQL being run, if any (bound values are never included).
  [[nodiscard]] const std::string& sql() const noexcept { return m_sql; }
  [[nodiscard]] const std::string& hint() const noexcept { return m_hint; }

  /// Any connection-level failure: refused, lost or timed out (see failure()).
  [[nodiscard]] bool is_connection_error() const noexcept { return m_kind == ErrorKind::connection; }
  /// A session could not be opened (nothing listening, login or TLS refused).
  [[nodiscard]] bool is_connection_refused() const noexcept { return m_failure == ConnectionFailure::refused; }
  /// An open session died while in use.
  [[nodiscard]] bool is_connection_lost() const noexcept { return m_failure == ConnectionFailure::lost; }
  /// Opening a session took longer than connect_timeout.
  [[nodiscard]] bool is_connection_timed_out() const noexcept { return m_failure == ConnectionFailure::timed_out; }
  [[nodiscard]] ConnectionFailure failure() const noexcept { return m_failure; }
  [[nodiscard]] bool is_retryable() const noexcept { return m_kind == ErrorKind::retryable; }
  [[nodiscard]] bool is_constraint_violation() const noexcept { return m_kind == ErrorKind::constraint; }
  [[nodiscard]] bool is_timeout() const noexcept { return m_kind == ErrorKind::timeout; }
  [[nodiscard]] bool is_read_only_violation() const noexcept { return m_kind == ErrorKind::read_only; }
  [[nodiscard]] bool is_config() const noexcept { return m_kind == ErrorKind::config; }
  [[nodiscard]] bool is_syntax() const noexcept { return m_kind == ErrorKind::syntax; }

  // Builders used while an error travels up the layers.
  Error& set_engine(std::string sqlstate, int code);
  /// Says how a connection failed (connection kind only; others stay `none`).
  Error& set_failure(ConnectionFailure f);
  Error& set_sql(std::string_view sql);
  Error& set_hint(std::string hint);
  /// Fills in the context fields that are still empty.
  Error& add_context(const ErrorContext& ctx);
  /// Masks every bound value the server echoed into the message (a unique
  /// violation's `Key (ssn)=(…)`, `Duplicate entry '…'`, an invalid input's
  /// text, a long value's truncated start) as `***`: what a connection that
  /// redacts its bindings does to its errors.
  Error& redact_values(std::span<const Value> values);

 private:
  void rebuild();

  ErrorKind m_kind;
  ConnectionFailure m_failure = ConnectionFailure::none;
  std::string m_message;
  ErrorContext m_context;
  std::string m_sqlstate;
  int m_engine_code = 0;
  std::string m_sql;
  std::string m_hint;
  std::string m_what;
};

/// Bad configuration: file, key and problem are in the message.
class ConfigError : public Error {
 public:
  explicit ConfigError(std::string message) : Error(ErrorKind::config, std::move(message)) {}
};
/// Could not connect, or the connection was lost mid-use.
class ConnectionError : public Error {
 public:
  /// `failure` says whether it was refused, lost or timed out (lost unless told).
  explicit ConnectionError(std::string message, ConnectionFailure failure = ConnectionFailure::lost)
      : Error(ErrorKind::connection, std::move(message)) {
    set_failure(failure);
  }
};
class ConstraintError : public Error {
 public:
  explicit ConstraintError(std::string message) : Error(ErrorKind::constraint, std::move(message)) {}
};
/// Serialization failure or deadlock; the whole transaction may be retried.
class RetryableError : public Error {
 public:
  explicit RetryableError(std::string message) : Error(ErrorKind::retryable, std::move(message)) {}
};
class TimeoutError : public Error {
 public:
  explicit TimeoutError(std::string message) : Error(ErrorKind::timeout, std::move(message)) {}
};
class ReadOnlyError : public Error {
 public:
  explicit ReadOnlyError(std::string message) : Error(ErrorKind::read_only, std::move(message)) {}
};
class SyntaxError : public Error {
 public:
  explicit SyntaxError(std::string message) : Error(ErrorKind::syntax, std::move(message)) {}
};
class ConversionError : public Error {
 public:
  explicit ConversionError(std::string message) : Error(ErrorKind::conversion, std::move(message)) {}
};
class UsageError : public Error {
 public:
  explicit UsageError(std::string message) : Error(ErrorKind::usage, std::move(message)) {}
};

/// Everything a driver knows about an engine error.
struct EngineError {
  ErrorKind kind = ErrorKind::other;
  std::string message;
  std::string sqlstate;
  int code = 0;
  std::string sql;
  /// For connection errors: refused, lost (the default) or timed out.
  ConnectionFailure failure = ConnectionFailure::none;
};

/// Throws the typed subclass that matches `e.kind`.
[[noreturn]] void raise(EngineError e);

}  // namespace plexus

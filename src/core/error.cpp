#include "plexus/core/error.hpp"

#include <algorithm>
#include <cctype>

#include "plexus/core/value.hpp"

namespace plexus {

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::other: return "database error";
    case ErrorKind::config: return "configuration error";
    case ErrorKind::connection: return "connection error";
    case ErrorKind::constraint: return "constraint violation";
    case ErrorKind::retryable: return "retryable conflict";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::read_only: return "read-only violation";
    case ErrorKind::syntax: return "SQL error";
    case ErrorKind::conversion: return "conversion error";
    case ErrorKind::usage: return "usage error";
    case ErrorKind::not_found: return "not found";
  }
  return "error";
}

std::string_view to_string(ConnectionFailure f) noexcept {
  switch (f) {
    case ConnectionFailure::none: return "none";
    case ConnectionFailure::refused: return "refused";
    case ConnectionFailure::lost: return "lost";
    case ConnectionFailure::timed_out: return "timed out";
  }
  return "?";
}

Error& Error::set_failure(ConnectionFailure f) {
  m_failure = m_kind == ErrorKind::connection ? f : ConnectionFailure::none;
  rebuild();
  return *this;
}

Error::Error(ErrorKind kind, std::string message) : m_kind(kind), m_message(std::move(message)) { rebuild(); }

Error& Error::set_engine(std::string sqlstate, int code) {
  m_sqlstate = std::move(sqlstate);
  m_engine_code = code;
  rebuild();
  return *this;
}

Error& Error::set_sql(std::string_view sql) {
  constexpr std::size_t max_sql = 500;  // keep messages readable; full SQL is in the query event
  m_sql = sql.size() > max_sql ? std::string(sql.substr(0, max_sql)) + "…" : std::string(sql);
  rebuild();
  return *this;
}

Error& Error::set_hint(std::string hint) {
  m_hint = std::move(hint);
  rebuild();
  return *this;
}

Error& Error::add_context(const ErrorContext& ctx) {
  if (m_context.connection.empty()) m_context.connection = ctx.connection;
  if (m_context.host.empty()) m_context.host = ctx.host;
  if (m_context.role.empty()) m_context.role = ctx.role;
  if (m_context.shard.empty()) m_context.shard = ctx.shard;
  rebuild();
  return *this;
}

namespace {

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// Replaces every occurrence of `v` in `text` by "***": anywhere when it is
/// long enough not to be an ordinary word of the message, else only where it
/// stands alone (not inside a longer word or number).
bool mask(std::string& text, std::string_view v) {
  if (v.empty()) return false;
  bool masked = false;
  for (std::size_t at = text.find(v); at != std::string::npos; at = text.find(v, at)) {
    const bool alone = (at == 0 || !word_char(text[at - 1])) &&
                       (at + v.size() >= text.size() || !word_char(text[at + v.size()]));
    if (v.size() >= 4 || alone) {
      text.replace(at, v.size(), "***");
      at += 3;
      masked = true;
    } else {
      at += v.size();
    }
  }
  return masked;
}

}  // namespace

Error& Error::redact_values(std::span<const Value> values) {
  bool masked = false;
  for (const Value& v : values) {
    if (v.is_null()) continue;
    const std::string text = v.type() == Value::Type::text ? std::string(v.raw_text()) : v.to_string();
    if (mask(m_message, text)) {
      masked = true;
      continue;
    }
    // A server shortens a long value it echoes ("Duplicate entry 'abc…'"):
    // mask the longest start of it (16 characters or more) that it shows.
    if (text.size() <= 16) continue;
    for (std::size_t n = std::min(text.size() - 1, m_message.size()); n >= 16; --n)
      if (mask(m_message, std::string_view(text).substr(0, n))) {
        masked = true;
        break;
      }
  }
  if (masked) rebuild();
  return *this;
}

void Error::rebuild() {
  std::string w = "plexus: ";
  w += to_string(m_kind);
  if (m_failure != ConnectionFailure::none) w += std::string(" (") + std::string(to_string(m_failure)) + ")";
  if (!m_context.connection.empty()) {
    w += " on connection '" + m_context.connection + "'";
    std::string where;
    if (!m_context.role.empty()) where += m_context.role;
    if (!m_context.host.empty()) where += (where.empty() ? "" : " ") + m_context.host;
    if (!m_context.shard.empty()) where += (where.empty() ? "shard " : ", shard ") + m_context.shard;
    if (!where.empty()) w += " (" + where + ")";
  }
  w += ": " + m_message;
  if (!m_sqlstate.empty() || m_engine_code != 0) {
    w += " [";
    if (!m_sqlstate.empty()) w += "SQLSTATE " + m_sqlstate;
    if (m_engine_code != 0) w += (m_sqlstate.empty() ? "code " : ", code ") + std::to_string(m_engine_code);
    w += "]";
  }
  if (!m_sql.empty()) w += " while running: " + m_sql;
  if (!m_hint.empty()) w += " — " + m_hint;
  m_what = std::move(w);
}

namespace {
template <class E>
[[noreturn]] void throw_as(EngineError& e) {
  E err(std::move(e.message));
  err.set_engine(std::move(e.sqlstate), e.code);
  if (e.kind == ErrorKind::connection)
    err.set_failure(e.failure == ConnectionFailure::none ? ConnectionFailure::lost : e.failure);
  if (!e.sql.empty()) err.set_sql(e.sql);
  throw err;
}
}  // namespace

void raise(EngineError e) {
  switch (e.kind) {
    case ErrorKind::config: throw_as<ConfigError>(e);
    case ErrorKind::connection: throw_as<ConnectionError>(e);
    case ErrorKind::constraint: throw_as<ConstraintError>(e);
    case ErrorKind::retryable: throw_as<RetryableError>(e);
    case ErrorKind::timeout: throw_as<TimeoutError>(e);
    case ErrorKind::read_only: throw_as<ReadOnlyError>(e);
    case ErrorKind::syntax: throw_as<SyntaxError>(e);
    case ErrorKind::conversion: throw_as<ConversionError>(e);
    case ErrorKind::usage: throw_as<UsageError>(e);
    case ErrorKind::not_found:
    case ErrorKind::other: break;
  }
  struct Other : Error {
    explicit Other(std::string m) : Error(ErrorKind::other, std::move(m)) {}
  };
  if (e.kind == ErrorKind::not_found) {
    struct NotFound : Error {
      explicit NotFound(std::string m) : Error(ErrorKind::not_found, std::move(m)) {}
    };
    throw_as<NotFound>(e);
  }
  throw_as<Other>(e);
}

}  // namespace plexus

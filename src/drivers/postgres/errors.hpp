#pragma once

#include <string_view>

#include <libpq-fe.h>

#include "plexus/core/error.hpp"

namespace plexus::engine::postgres {

/// Core kind for a SQLSTATE (class 08 → connection, 40001/40P01 → retryable, …).
ErrorKind kind_for_sqlstate(std::string_view sqlstate) noexcept;
/// Throws for a failed result (`res` may be null when the connection broke).
[[noreturn]] void throw_result_error(PGconn* conn, const PGresult* res, std::string_view sql);

}  // namespace plexus::engine::postgres

#pragma once

#include <string_view>

#include "plexus/core/error.hpp"

namespace plexus::engine::mysql {

/// Core kind for a MySQL/MariaDB error number.
ErrorKind kind_for_errno(unsigned code) noexcept;
[[noreturn]] void throw_error(unsigned code, std::string_view sqlstate, std::string_view message, std::string_view sql);

}  // namespace plexus::engine::mysql

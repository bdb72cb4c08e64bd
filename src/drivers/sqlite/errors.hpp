#pragma once

#include <string_view>

#include <sqlite3.h>

namespace plexus::engine::sqlite {

/// Throws the plexus::Error matching SQLite's extended result code `rc`.
[[noreturn]] void throw_error(sqlite3* db, int rc, std::string_view sql);

}  // namespace plexus::engine::sqlite

// Splitting a migration file into statements (private to src/), so each runs
// on its own and an error names the line where its statement starts.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/driver/grammar.hpp"

namespace plexus::detail {

struct SqlStatement {
  std::string sql;
  std::size_t line = 1;  ///< where the statement starts in the file (1-based)
};

/// Splits at semicolons in code (SqlLexer with `syntax`: never inside a
/// string, a quoted identifier, a dollar-quoted body or a comment). A file
/// with a line `-- plexus:single-statement` is one statement (a MariaDB
/// trigger or procedure body, whose semicolons are its own). Empty statements
/// and comment-only ones are dropped.
std::vector<SqlStatement> split_sql(std::string_view text, const SqlSyntax& syntax);

}  // namespace plexus::detail

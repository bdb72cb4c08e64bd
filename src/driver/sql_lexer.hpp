// The one SQL lexer (private to src/): where a dialect's string literals,
// quoted identifiers, dollar-quoted bodies and comments begin and end, by the
// rules its Grammar gives (SqlSyntax). Placeholder rewriting, the statement
// count behind "several statements in one call", and the migration splitter
// all read SQL through it, so they never disagree about what is code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "plexus/driver/grammar.hpp"

namespace plexus::detail {

class SqlLexer {
 public:
  enum class Kind : std::uint8_t {
    code,     ///< one character of code
    literal,  ///< a whole string, quoted identifier or dollar-quoted body, quotes included
    comment,  ///< a whole comment (a line comment without its newline)
  };
  struct Piece {
    Kind kind = Kind::code;
    std::size_t begin = 0, end = 0;
  };
  SqlLexer(std::string_view sql, const SqlSyntax& syntax) noexcept : m_sql(sql), m_syntax(syntax) {}
  /// The next piece; false at the end of the text. An unterminated literal
  /// or comment runs to the end.
  bool next(Piece& p);
  /// Skips `n` characters of code (a two-character token read by its first).
  void skip(std::size_t n) noexcept { m_at += n; }

 private:
  [[nodiscard]] std::size_t quoted_end(std::size_t open, char close, bool escapes) const noexcept;
  std::string_view m_sql;
  SqlSyntax m_syntax;
  std::size_t m_at = 0;
};

/// Copies `sql`, calling `on_placeholder(out)` for every `?` in code; `??` is
/// copied as a literal `?`. Returns the number of placeholders seen.
std::size_t rewrite_placeholders(std::string_view sql, const SqlSyntax& syntax, std::string& out,
                                 const std::function<void(std::string&)>& on_placeholder);

/// True when `sql` uses PostgreSQL `$1`-style placeholders in code.
bool has_dollar_placeholders(std::string_view sql, const SqlSyntax& syntax);

/// The highest `$n` in code (0 when there is none).
std::size_t max_dollar_placeholder(std::string_view sql, const SqlSyntax& syntax);

/// How many statements `sql` holds: `;`-separated parts that hold more than
/// blanks and comments. Used to explain an engine's refusal; each engine's
/// own parser decides what runs.
std::size_t count_statements(std::string_view sql, const SqlSyntax& syntax);

}  // namespace plexus::detail

#include "migrate/sql_split.hpp"

#include <algorithm>
#include <cctype>

#include "driver/sql_lexer.hpp"

namespace plexus::detail {

namespace {

std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

}  // namespace

std::vector<SqlStatement> split_sql(std::string_view text, const SqlSyntax& syntax) {
  const bool whole = text.find("-- plexus:single-statement") != std::string_view::npos;
  std::vector<SqlStatement> out;
  std::size_t start = 0, line = 1, first_line = 0;  // first_line: where the statement's first code is (0: none yet)
  const auto finish = [&](std::size_t end) {
    if (first_line != 0) out.push_back({trim(text.substr(start, end - start)), first_line});
    first_line = 0;
  };
  SqlLexer lex(text, syntax);
  for (SqlLexer::Piece p; lex.next(p);) {
    const std::string_view piece = text.substr(p.begin, p.end - p.begin);
    const bool code = p.kind == SqlLexer::Kind::code;
    if (code && piece == ";" && !whole) {
      finish(p.begin);
      start = p.end;
    } else if (first_line == 0 && p.kind != SqlLexer::Kind::comment &&
               !(code && std::isspace(static_cast<unsigned char>(piece[0])))) {
      first_line = line;
    }
    line += static_cast<std::size_t>(std::count(piece.begin(), piece.end(), '\n'));
  }
  finish(text.size());
  return out;
}

}  // namespace plexus::detail

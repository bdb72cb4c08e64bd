#include "driver/sql_lexer.hpp"

#include <algorithm>
#include <cctype>

namespace plexus::detail {
namespace {
bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
}  // namespace

std::size_t SqlLexer::quoted_end(std::size_t open, char close, bool escapes) const noexcept {
  std::size_t i = open + 1;
  while (i < m_sql.size()) {
    const char c = m_sql[i];
    if (escapes && c == '\\') {
      i += 2;
      continue;
    }
    if (c == close) {
      if (i + 1 < m_sql.size() && m_sql[i + 1] == close && close != ']') {  // a doubled quote
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return m_sql.size();
}

bool SqlLexer::next(Piece& p) {
  const std::size_t i = m_at;
  if (i >= m_sql.size()) return false;
  const char c = m_sql[i];
  const char d = i + 1 < m_sql.size() ? m_sql[i + 1] : '\0';
  p.begin = i;
  const auto to = [&](Kind kind, std::size_t end) {
    p.kind = kind;
    p.end = std::min(end, m_sql.size());
    m_at = p.end;
    return true;
  };
  const auto line_end = [&] {
    const auto nl = m_sql.find('\n', i);
    return nl == std::string_view::npos ? m_sql.size() : nl;
  };
  if (c == '\'') {
    // E'…' (PostgreSQL): the E must start a word, or it ends an identifier.
    const bool e_string = m_syntax.escape_strings && i > 0 && (m_sql[i - 1] == 'E' || m_sql[i - 1] == 'e') &&
                          (i < 2 || !word_char(m_sql[i - 2]));
    return to(Kind::literal, quoted_end(i, '\'', m_syntax.backslash_escapes || e_string));
  }
  if (c == '"') return to(Kind::literal, quoted_end(i, '"', m_syntax.backslash_escapes));
  if (c == '`') return to(Kind::literal, quoted_end(i, '`', false));
  if (c == '[' && m_syntax.bracket_identifiers) return to(Kind::literal, quoted_end(i, ']', false));
  if (c == '-' && d == '-') return to(Kind::comment, line_end());
  if (c == '#' && m_syntax.hash_comments) return to(Kind::comment, line_end());
  if (c == '/' && d == '*') {
    const auto close = m_sql.find("*/", i + 2);
    return to(Kind::comment, close == std::string_view::npos ? m_sql.size() : close + 2);
  }
  if (c == '$' && m_syntax.dollar_quotes && (i == 0 || !word_char(m_sql[i - 1])) &&
      !std::isdigit(static_cast<unsigned char>(d))) {
    // $$ or $tag$ (a tag: letters, digits and _, not starting with a digit).
    std::size_t j = i + 1;
    while (j < m_sql.size() && word_char(m_sql[j])) ++j;
    if (j < m_sql.size() && m_sql[j] == '$') {
      const std::string_view tag = m_sql.substr(i, j - i + 1);
      const auto close = m_sql.find(tag, j + 1);
      return to(Kind::literal, close == std::string_view::npos ? m_sql.size() : close + tag.size());
    }
  }
  return to(Kind::code, i + 1);
}

std::size_t rewrite_placeholders(std::string_view sql, const SqlSyntax& syntax, std::string& out,
                                 const std::function<void(std::string&)>& on_placeholder) {
  std::size_t n = 0;
  out.reserve(out.size() + sql.size() + 8);
  SqlLexer lex(sql, syntax);
  for (SqlLexer::Piece p; lex.next(p);) {
    if (p.kind != SqlLexer::Kind::code || sql[p.begin] != '?') {
      out.append(sql.substr(p.begin, p.end - p.begin));
      continue;
    }
    if (p.end < sql.size() && sql[p.end] == '?') {  // ?? is a literal ?
      out += '?';
      lex.skip(1);
      continue;
    }
    ++n;
    on_placeholder(out);
  }
  return n;
}

namespace {
/// Calls `fn(i)` for each character of code.
template <class F>
void each_code(std::string_view sql, const SqlSyntax& syntax, F&& fn) {
  SqlLexer lex(sql, syntax);
  for (SqlLexer::Piece p; lex.next(p);)
    if (p.kind == SqlLexer::Kind::code) fn(p.begin);
}
}  // namespace

bool has_dollar_placeholders(std::string_view sql, const SqlSyntax& syntax) {
  bool found = false;
  each_code(sql, syntax, [&](std::size_t i) {
    found = found || (sql[i] == '$' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])));
  });
  return found;
}

std::size_t max_dollar_placeholder(std::string_view sql, const SqlSyntax& syntax) {
  std::size_t max = 0;
  each_code(sql, syntax, [&](std::size_t i) {
    if (sql[i] != '$') return;
    std::size_t n = 0, j = i + 1;
    while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) n = n * 10 + static_cast<std::size_t>(sql[j++] - '0');
    max = std::max(max, n);
  });
  return max;
}

std::size_t count_statements(std::string_view sql, const SqlSyntax& syntax) {
  std::size_t count = 0;
  bool content = false;
  SqlLexer lex(sql, syntax);
  for (SqlLexer::Piece p; lex.next(p);) {
    if (p.kind == SqlLexer::Kind::comment) continue;
    if (p.kind == SqlLexer::Kind::literal) {
      content = true;
    } else if (sql[p.begin] == ';') {
      count += content ? 1 : 0;
      content = false;
    } else if (!std::isspace(static_cast<unsigned char>(sql[p.begin]))) {
      content = true;
    }
  }
  return count + (content ? 1 : 0);
}

}  // namespace plexus::detail

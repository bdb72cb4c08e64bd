#include "migrate/sql_split.hpp"

#include <cctype>

namespace plexus::detail {

namespace {

bool blank_or_comment(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i]))) {
      ++i;
    } else if (s.substr(i, 2) == "--") {
      const auto nl = s.find('\n', i);
      i = nl == std::string_view::npos ? s.size() : nl + 1;
    } else if (s.substr(i, 2) == "/*") {
      const auto end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      return false;
    }
  }
  return true;
}

/// The line of the first character of `s[from, to)` that is not blank or in a comment.
std::size_t first_code_line(std::string_view s, std::size_t from, std::size_t to, std::size_t line) {
  std::size_t i = from;
  while (i < to) {
    if (s[i] == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(s[i]))) {
      ++i;
    } else if (s.substr(i, 2) == "--") {
      while (i < to && s[i] != '\n') ++i;
    } else if (s.substr(i, 2) == "/*") {
      const auto end = s.find("*/", i + 2);
      const std::size_t stop = end == std::string_view::npos ? to : end + 2;
      for (; i < stop; ++i)
        if (s[i] == '\n') ++line;
    } else {
      break;
    }
  }
  return line;
}

std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

}  // namespace

std::vector<SqlStatement> split_sql(std::string_view text, bool backslash_escapes) {
  std::vector<SqlStatement> out;
  if (text.find("-- plexus:single-statement") != std::string_view::npos) {
    if (!blank_or_comment(text)) out.push_back({trim(text), first_code_line(text, 0, text.size(), 1)});
    return out;
  }
  std::size_t start = 0, start_line = 1, line = 1, i = 0;
  auto finish = [&](std::size_t end) {
    const std::string_view piece = text.substr(start, end - start);
    if (!blank_or_comment(piece)) out.push_back({trim(piece), first_code_line(text, start, end, start_line)});
  };
  auto skip_quoted = [&](char q, bool escapes) {
    ++i;
    while (i < text.size()) {
      const char c = text[i];
      if (c == '\n') ++line;
      if (escapes && c == '\\' && q != '`') {
        if (i + 1 < text.size() && text[i + 1] == '\n') ++line;
        i += 2;
        continue;
      }
      if (c == q) {
        if (i + 1 < text.size() && text[i + 1] == q) {  // a doubled quote
          i += 2;
          continue;
        }
        ++i;
        return;
      }
      ++i;
    }
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const auto end = text.find("*/", i + 2);
      const std::size_t stop = end == std::string_view::npos ? text.size() : end + 2;
      for (; i < stop; ++i)
        if (text[i] == '\n') ++line;
    } else if (c == '\'' || c == '"' || c == '`') {
      skip_quoted(c, backslash_escapes);
    } else if ((c == 'E' || c == 'e') && i + 1 < text.size() && text[i + 1] == '\'' &&
               (i == 0 || !(std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_'))) {
      // PostgreSQL's escape string E'…': a backslash escapes the next character there.
      ++i;
      skip_quoted('\'', true);
    } else if (c == '$') {
      // A dollar quote: $$ or $tag$ (a tag is letters, digits and _, not starting with a digit).
      std::size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      const bool tag_ok = j < text.size() && text[j] == '$' &&
                          (j == i + 1 || !std::isdigit(static_cast<unsigned char>(text[i + 1])));
      if (!tag_ok) {
        ++i;
        continue;
      }
      const std::string_view tag = text.substr(i, j - i + 1);
      const auto end = text.find(tag, j + 1);
      const std::size_t stop = end == std::string_view::npos ? text.size() : end + tag.size();
      for (; i < stop; ++i)
        if (text[i] == '\n') ++line;
    } else if (c == ';') {
      finish(i);
      ++i;
      start = i;
      start_line = line;
    } else {
      ++i;
    }
  }
  finish(text.size());
  return out;
}

}  // namespace plexus::detail

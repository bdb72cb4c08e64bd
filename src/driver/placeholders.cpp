#include "driver/placeholders.hpp"

#include <algorithm>
#include <cctype>

namespace plexus::detail {
namespace {

/// Walks sql; for each char outside quoted regions calls plain(i) which may
/// consume extra characters by returning how many it used (0 = copy as is).
template <class Plain>
void scan(std::string_view sql, std::string* out, Plain&& plain) {
  std::size_t i = 0;
  auto copy_until = [&](std::string_view end) {
    auto p = sql.find(end, i);
    std::size_t stop = p == std::string_view::npos ? sql.size() : p + end.size();
    if (out) out->append(sql.substr(i, stop - i));
    i = stop;
  };
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      bool backslash = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e');
      if (out) *out += c;
      ++i;
      while (i < sql.size()) {
        char d = sql[i++];
        if (out) *out += d;
        if (backslash && d == '\\' && i < sql.size()) {
          if (out) *out += sql[i];
          ++i;
        } else if (d == c) {
          if (i < sql.size() && sql[i] == c) {
            if (out) *out += sql[i];
            ++i;
          } else {
            break;
          }
        }
      }
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      copy_until("\n");
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      copy_until("*/");
    } else if (c == '$' && !(i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      auto close = sql.find('$', i + 1);
      bool is_tag = close != std::string_view::npos;
      if (is_tag)
        for (std::size_t k = i + 1; k < close; ++k)
          if (!(std::isalnum(static_cast<unsigned char>(sql[k])) || sql[k] == '_')) is_tag = false;
      if (is_tag) {
        std::string_view tag = sql.substr(i, close - i + 1);
        if (out) out->append(tag);
        i += tag.size();
        copy_until(tag);
      } else {
        if (out) *out += c;
        ++i;
      }
    } else {
      std::size_t used = plain(i);
      if (used == 0) {
        if (out) *out += c;
        used = 1;
      }
      i += used;
    }
  }
}

}  // namespace

std::size_t rewrite_placeholders(std::string_view sql, std::string& out,
                                 const std::function<void(std::string&)>& on_placeholder) {
  std::size_t n = 0;
  out.reserve(out.size() + sql.size() + 8);
  scan(sql, &out, [&](std::size_t i) -> std::size_t {
    if (sql[i] != '?') return 0;
    if (i + 1 < sql.size() && sql[i + 1] == '?') {
      out += '?';
      return 2;
    }
    ++n;
    on_placeholder(out);
    return 1;
  });
  return n;
}

bool has_dollar_placeholders(std::string_view sql) {
  bool found = false;
  scan(sql, nullptr, [&](std::size_t i) -> std::size_t {
    if (sql[i] == '$' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) found = true;
    return 0;
  });
  return found;
}

std::size_t max_dollar_placeholder(std::string_view sql) {
  std::size_t max = 0;
  scan(sql, nullptr, [&](std::size_t i) -> std::size_t {
    if (sql[i] != '$') return 0;
    std::size_t j = i + 1, n = 0;
    while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) n = n * 10 + static_cast<std::size_t>(sql[j++] - '0');
    if (j == i + 1) return 0;
    max = std::max(max, n);
    return j - i;
  });
  return max;
}

std::size_t count_statements(std::string_view sql) {
  // Comments and literals are skipped by scan(); what it hands over is code.
  std::size_t count = 0;
  bool content = false;
  scan(sql, nullptr, [&](std::size_t i) -> std::size_t {
    char c = sql[i];
    if (c == ';') {
      count += content ? 1 : 0;
      content = false;
    } else if (c == '#') {  // MySQL's line comment
      auto nl = sql.find('\n', i);
      return (nl == std::string_view::npos ? sql.size() : nl) - i;
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      content = true;
    }
    return 0;
  });
  // A quoted part or comment is content too: look at what scan() skipped.
  return count + (content ? 1 : 0);
}

}  // namespace plexus::detail

#include "plexus/query/grammar.hpp"

#include <cctype>

#include "drivers/grammars.hpp"
#include "plexus/core/error.hpp"

namespace plexus {
namespace {

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool plain_part(std::string_view p) {
  if (p.empty() || !ident_start(p.front()) || p.size() > 128) return false;
  for (char c : p)
    if (!ident_char(c)) return false;
  return true;
}

[[noreturn]] void refuse(std::string_view name) {
  std::string shown(name.substr(0, 80));
  throw UsageError("'" + shown +
                   "' is not a valid identifier: names may hold letters, digits and _ (with one dot for "
                   "table.column and an optional 'AS alias'); use raw() for expressions");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

bool acceptable_name(std::string_view name) noexcept {
  std::string_view n = trim(name);
  for (std::size_t i = 0; i + 4 <= n.size(); ++i)
    if (n[i] == ' ' && (n[i + 1] == 'a' || n[i + 1] == 'A') && (n[i + 2] == 's' || n[i + 2] == 'S') && n[i + 3] == ' ')
      return plain_part(trim(n.substr(i + 4))) && acceptable_name(n.substr(0, i));
  if (n == "*") return true;
  auto dot = n.find('.');
  if (dot == std::string_view::npos) return plain_part(n);
  std::string_view column = n.substr(dot + 1);
  return plain_part(n.substr(0, dot)) && (column == "*" || plain_part(column));
}

void check_name(std::string_view name) {
  if (!acceptable_name(name)) refuse(name);
}

void Grammar::identifier(std::string& out, std::string_view name) const {
  std::string_view n = trim(name);
  // "col AS alias" (any case, single spaces around AS).
  for (std::size_t i = 0; i + 4 <= n.size(); ++i) {
    if (n[i] == ' ' && (n[i + 1] == 'a' || n[i + 1] == 'A') && (n[i + 2] == 's' || n[i + 2] == 'S') && n[i + 3] == ' ') {
      std::string_view alias = trim(n.substr(i + 4));
      if (!plain_part(alias)) refuse(name);
      identifier(out, n.substr(0, i));
      out += " AS ";
      quote(out, alias);
      return;
    }
  }
  if (n == "*") {
    out += '*';
    return;
  }
  auto dot = n.find('.');
  if (dot == std::string_view::npos) {
    if (!plain_part(n)) refuse(name);
    quote(out, n);
    return;
  }
  std::string_view table = n.substr(0, dot), column = n.substr(dot + 1);
  if (!plain_part(table) || (column != "*" && !plain_part(column))) refuse(name);
  quote(out, table);
  out += '.';
  if (column == "*") out += '*';
  else quote(out, column);
}

void Grammar::limit_offset(std::string& out, std::optional<std::uint64_t> limit,
                           std::optional<std::uint64_t> offset) const {
  if (limit) out += " LIMIT " + std::to_string(*limit);
  if (offset) out += " OFFSET " + std::to_string(*offset);
}

void Grammar::on_conflict_tail(std::string& out, std::span<const std::string> unique_by,
                               std::span<const std::string> update) const {
  out += " ON CONFLICT (";
  for (std::size_t i = 0; i < unique_by.size(); ++i) {
    if (i) out += ", ";
    identifier(out, unique_by[i]);
  }
  out += ")";
  if (update.empty()) {
    out += " DO NOTHING";
    return;
  }
  out += " DO UPDATE SET ";
  for (std::size_t i = 0; i < update.size(); ++i) {
    if (i) out += ", ";
    identifier(out, update[i]);
    out += " = excluded.";
    identifier(out, update[i]);
  }
}

const Grammar& grammar_for(std::string_view driver) {
  if (driver == "sqlite" || driver == "sqlite3") return detail::sqlite_grammar();
  if (driver == "postgres" || driver == "postgresql" || driver == "pgsql") return detail::postgres_grammar();
  if (driver == "mysql" || driver == "mariadb") return detail::mysql_grammar();
  throw ConfigError("no SQL grammar for driver '" + std::string(driver) + "' (known: sqlite, postgres, mysql)");
}

}  // namespace plexus

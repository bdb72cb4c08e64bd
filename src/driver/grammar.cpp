#include "plexus/driver/grammar.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "driver/name_chars.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus {
namespace {

using detail::ident_char;
using detail::ident_start;

bool plain_part(std::string_view p) {
  if (p.empty() || !ident_start(p.front()) || p.size() > detail::k_plain_name_max) return false;
  for (char c : p)
    if (!ident_char(c)) return false;
  return true;
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
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
  if (plain_part(name)) return true;  // the common case: one scan
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

bool check_name(std::string_view name) {
  if (plain_part(name)) return true;
  if (!acceptable_name(name)) refuse(name);
  return false;
}

NameForm name_form(std::string_view name) {
  // The most common form alone first: one plain name.
  if (!name.empty() && name.size() <= detail::k_plain_name_max && ident_start(name.front())) {
    std::size_t i = 1;
    while (i < name.size() && ident_char(name[i])) ++i;
    if (i == name.size()) return NameForm::plain;
  }
  // One scan for the common forms: a plain name, or two around one dot.
  constexpr std::size_t most = detail::k_plain_name_max;  // per part, as plain_part() allows
  std::size_t dot = std::string_view::npos;
  bool simple = !name.empty() && ident_start(name.front());
  for (std::size_t i = 1; simple && i < name.size(); ++i) {
    const char c = name[i];
    if (ident_char(c)) continue;
    simple = c == '.' && dot == std::string_view::npos && i + 1 < name.size() && ident_start(name[i + 1]);
    dot = i;
  }
  if (simple) {
    if (dot == std::string_view::npos && name.size() <= most) return NameForm::plain;
    if (dot != std::string_view::npos && dot <= most && name.size() - dot - 1 <= most) return NameForm::qualified;
  }
  if (!acceptable_name(name)) refuse(name);
  return NameForm::other;
}

void Grammar::checked_identifier(std::string& out, std::string_view name, NameForm form) const {
  switch (form) {
    case NameForm::plain:
      quote(out, name);
      return;
    case NameForm::qualified: {
      const std::size_t dot = name.find('.');
      quote(out, name.substr(0, dot));
      out += '.';
      quote(out, name.substr(dot + 1));
      return;
    }
    case NameForm::other:
      break;
  }
  identifier(out, name);
}

void Grammar::order_nulls_low(std::string& out, std::string_view column, bool desc) const {
  out += column;
  out += desc ? " DESC" : " ASC";
}

void Grammar::identifier(std::string& out, std::string_view name) const {
  if (plain_part(name)) {  // the common case: one scan
    quote(out, name);
    return;
  }
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
  if (limit) append_number(out.append(" LIMIT "), *limit);
  if (offset) append_number(out.append(" OFFSET "), *offset);
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

void Grammar::quote(std::string& out, std::string_view part) const {
  // A quote character inside a name (one read from the catalog, never one
  // check_name() passed) is doubled, as every dialect reads it.
  if (part.find(m_quote) != std::string_view::npos) [[unlikely]] {
    out += m_quote;
    for (char c : part) {
      out += c;
      if (c == m_quote) out += c;
    }
    out += m_quote;
    return;
  }
  // One append for the common case (checked names are at most 128 characters).
  char buf[160];
  if (part.size() + 2 <= sizeof buf) {
    buf[0] = m_quote;
    std::memcpy(buf + 1, part.data(), part.size());
    buf[part.size() + 1] = m_quote;
    out.append(buf, part.size() + 2);
    return;
  }
  out += m_quote;
  out += part;
  out += m_quote;
}

Grammar::Grammar(char quote_char) : m_quote(quote_char) {
  static std::atomic<std::size_t> next{0};
  m_slot = next.fetch_add(1);
  // Grammars are one static instance per engine; running out means a grammar
  // is being made per use, which would defeat every per-dialect cache.
  if (m_slot >= max_slots) std::abort();
}


const Grammar& grammar_for(std::string_view engine) { return driver::EngineRegistry::builtin().get(engine).grammar(); }

}  // namespace plexus

namespace plexus {

std::vector<std::string> Grammar::capture_sql(std::string_view, std::string_view, std::string_view) const { return {}; }
std::vector<std::string> Grammar::drop_capture_sql(std::string_view) const { return {}; }

std::vector<std::string> Grammar::drop_per_event_capture_sql(std::string_view table) const {
  std::vector<std::string> out;
  for (const char* suffix : {"_i", "_u", "_d"}) {
    std::string name;
    quote(name, "plexus_capture_" + std::string(table) + suffix);
    out.push_back("DROP TRIGGER IF EXISTS " + name);
  }
  std::string changes;
  quote(changes, "plexus_changes_" + std::string(table));
  out.push_back("DROP TABLE IF EXISTS " + changes);
  return out;
}

std::string Grammar::sealed_message(std::string_view table) {
  return "plexus: writes to " + std::string(table) +
         " on this database are sealed: an online reshard switched its rows to another layout (plexus reshard "
         "status). Run the write again through the shard group, which now routes it to the new member";
}

}  // namespace plexus

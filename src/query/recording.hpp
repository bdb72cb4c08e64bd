// The builder's recording, inside: how a call is recorded as bytes (private
// to src/query/; builder.cpp records, recording.cpp replays, compile.cpp looks
// shapes up by it). Everything here is inlined into the calls that record.
//
// A builder records the calls it can (select lists, basic/IN/NULL/BETWEEN
// conditions, order, limit, offset, DISTINCT) as bytes: a tag, flags, and
// names with a one-byte length; values go to `values` in call order, which is
// the order the SQL binds them (only WHERE values are recorded). Two builders
// with the same bytes were built by the same calls, so they compile to the
// same SQL: the bytes are the shape key. Anything else replays the recording
// into the spec first (materialize) and goes there from then on.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "driver/name_chars.hpp"
#include "plexus/query/builder.hpp"

namespace plexus {
namespace detail::recording {
// Short names (a table's, a column's) are compared and copied a word at a
// time: whole words from the front, then the word ending at the last byte (it
// may overlap the one before); nothing outside the n bytes is read or written.
[[gnu::always_inline]] inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
[[gnu::always_inline]] inline std::uint32_t load4(const char* p) noexcept {
  std::uint32_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
[[gnu::always_inline]] inline void store8(char* p, std::uint64_t w) noexcept { std::memcpy(p, &w, sizeof w); }
[[gnu::always_inline]] inline void store4(char* p, std::uint32_t w) noexcept { std::memcpy(p, &w, sizeof w); }

/// Whether `n` (1 to 56) bytes at `a` and `b` are the same.
[[gnu::always_inline]] inline bool same_short(const char* a, const char* b, std::size_t n) noexcept {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (load8(a + i) != load8(b + i)) return false;
    return load8(a + n - 8) == load8(b + n - 8);
  }
  if (n >= 4) return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/// Copies `n` (0 to 255) bytes from `from` to `to` (not overlapping).
[[gnu::always_inline]] inline void copy_short(char* to, const char* from, std::size_t n) noexcept {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) store8(to + i, load8(from + i));
    store8(to + n - 8, load8(from + n - 8));
  } else if (n >= 4) {
    const std::uint32_t head = load4(from), tail = load4(from + n - 4);
    store4(to, head);
    store4(to + n - 4, tail);
  } else if (n > 0) {
    const char first = from[0], middle = from[n / 2], last = from[n - 1];
    to[0] = first;
    to[n / 2] = middle;
    to[n - 1] = last;
  }
}

// Two entries written whole, through Recording::grow(): a plain table ('T', the
// name's length, the name) and a FixedColumns ('F', its address, to replay
// it, and its serial, so a list made later at the same address is another shape).
constexpr std::size_t table_entry_size(std::size_t name_size) noexcept { return 2 + name_size; }
constexpr std::size_t k_fixed_entry_size = 1 + 2 * sizeof(std::uint64_t);
/// Returns the byte after the entry.
[[gnu::always_inline]] inline char* write_table_entry(char* at, std::string_view name) noexcept {
  at[0] = 'T';
  at[1] = static_cast<char>(name.size());
  copy_short(at + 2, name.data(), name.size());
  return at + table_entry_size(name.size());
}

/// The canonical operators (normalize_op's results), by the index a recording records.
inline constexpr std::string_view k_ops[] = {"=", "<>", "<", "<=", ">", ">=", "like", "not like", "ilike"};
static_assert(k_ops[0] == "=");  // where(column, value) records '=' as 0
inline char op_index(std::string_view op) {
  for (std::size_t i = 0; i < std::size(k_ops); ++i)
    if (k_ops[i] == op) return static_cast<char>(i);
  throw std::logic_error("plexus: operator '" + std::string(op) + "' is not canonical");
}
}  // namespace detail::recording

using namespace detail::recording;  // NOLINT: the recording's own helpers, in the files that record

[[gnu::always_inline]] inline void QueryBuilder::Recording::put_name(std::string_view name) noexcept {
  m_buf[m_size++] = static_cast<char>(name.size());
  copy_short(m_buf + m_size, name.data(), name.size());
  m_size = static_cast<std::uint8_t>(m_size + name.size());
}

[[gnu::always_inline]] inline void QueryBuilder::write_fixed_entry(char* at, const FixedColumns& columns) noexcept {
  at[0] = 'F';
  store8(at + 1, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&columns)));
  store8(at + 1 + sizeof(std::uint64_t), columns.serial());
}

[[gnu::always_inline]] inline void QueryBuilder::Recording::put_number(std::uint64_t n) noexcept {
  std::memcpy(m_buf + m_size, &n, sizeof n);
  m_size = static_cast<std::uint8_t>(m_size + sizeof n);
}

[[gnu::always_inline]] inline bool QueryBuilder::Recording::put_plain(std::string_view name) noexcept {
  const std::size_t n = name.size();
  if (n == 0 || n > detail::k_plain_name_max || !room(n + 1) || !detail::ident_start(name[0])) return false;
  char* to = m_buf + m_size + 1;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = name[i];
    if (!detail::ident_char(c)) return false;
    to[i] = c;
  }
  m_buf[m_size] = static_cast<char>(n);
  m_size = static_cast<std::uint8_t>(m_size + 1 + n);
  return true;
}
[[gnu::always_inline]] inline bool QueryBuilder::Recording::put_plain(const char* name) noexcept {
  if (m_size >= capacity || !detail::ident_start(name[0])) return false;  // the empty name included
  char* to = m_buf + m_size + 1;
  const std::size_t most = std::min(detail::k_plain_name_max, capacity - m_size - 1);
  std::size_t n = 0;
  for (; n < most && detail::ident_char(name[n]); ++n) to[n] = name[n];  // NUL is not a name character
  if (name[n] != '\0') return false;  // a character a plain name has not, or longer than fits
  m_buf[m_size] = static_cast<char>(n);
  m_size = static_cast<std::uint8_t>(m_size + 1 + n);
  return true;
}

[[gnu::always_inline]] inline bool QueryBuilder::record_name(std::string_view name, std::size_t mark) {
  return m_recording.put_plain(name) || record_other_name(name, mark);
}

[[gnu::always_inline]] inline bool QueryBuilder::records(std::size_t need) {
  if (m_recording.on() && m_recording.room(need)) [[likely]]
    return true;
  if (m_recording.on()) materialize();
  return false;
}

}  // namespace plexus

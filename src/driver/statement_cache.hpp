// The prepared-statement cache every engine keeps per session, keyed by SQL
// text. Apps run the same few statements over and over, so the entry used
// last is checked first: a repeat costs one length check and one memcmp
// instead of hashing the SQL. Private to src/.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "driver/string_hash.hpp"

namespace plexus::detail {

template <class V>
class StatementCache {
 public:
  /// The entry for `sql`, or nullptr.
  V* find(std::string_view sql) noexcept {
    if (m_last && m_last->first == sql) return &m_last->second;
    auto it = m_map.find(sql);
    if (it == m_map.end()) return nullptr;
    m_last = &*it;
    return &it->second;
  }
  /// Stores `v` for `sql` (replacing any entry) and returns it. Entries stay
  /// put until erased or cleared (node-based map).
  V& insert(std::string_view sql, V v) {
    auto& entry = *m_map.insert_or_assign(std::string(sql), std::move(v)).first;
    m_last = &entry;
    return entry.second;
  }
  void erase(std::string_view sql) {
    m_last = nullptr;
    if (auto it = m_map.find(sql); it != m_map.end()) m_map.erase(it);
  }
  void clear() noexcept {
    m_last = nullptr;
    m_map.clear();
  }
  [[nodiscard]] std::size_t size() const noexcept { return m_map.size(); }
  /// Calls fn(value) for every entry (to finalise engine handles before a clear).
  template <class F>
  void each(F&& fn) {
    for (auto& entry : m_map) fn(entry.second);
  }

 private:
  std::unordered_map<std::string, V, StringHash, std::equal_to<>> m_map;
  std::pair<const std::string, V>* m_last = nullptr;
};

}  // namespace plexus::detail

#include "plexus/db/unit_of_work.hpp"

namespace plexus {

bool UnitOfWork::wrote(std::string_view connection) const {
  std::lock_guard lock(m_mutex);
  return m_writes.find(connection) != m_writes.end();
}

std::optional<std::string> UnitOfWork::position(std::string_view connection) const {
  std::lock_guard lock(m_mutex);
  auto it = m_writes.find(connection);
  return it == m_writes.end() ? std::nullopt : it->second.position;
}

void UnitOfWork::record_write(std::string_view connection, std::optional<std::string> position) {
  std::lock_guard lock(m_mutex);
  auto& e = m_writes[std::string(connection)];
  // Positions only move forward; a write without one keeps the last known.
  if (position) e.position = std::move(position);
}

void UnitOfWork::reset() {
  std::lock_guard lock(m_mutex);
  m_writes.clear();
}

}  // namespace plexus

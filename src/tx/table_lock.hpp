// A lock held as a row of a table (private to src/): it works on every
// engine and through poolers in transaction mode (pgbouncer), where session
// advisory locks do not hold, and it expires if its holder dies.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "plexus/db/connection.hpp"

namespace plexus::detail {

class TableLock {
 public:
  /// Takes lock `name` on `conn`, waiting up to `wait` while another holds
  /// it. A holder that dies lets it go: at once when it ran on this host
  /// (its process is gone), else when `ttl` lapses.
  /// @returns nullopt when it stayed taken; @throws plexus::Error when the database fails.
  static std::optional<TableLock> take(Connection& conn, std::string name, std::chrono::seconds ttl,
                                       std::chrono::milliseconds wait);
  TableLock(TableLock&& o) noexcept : m_conn(std::exchange(o.m_conn, nullptr)), m_name(std::move(o.m_name)), m_owner(std::move(o.m_owner)) {}
  TableLock& operator=(TableLock&&) = delete;
  ~TableLock();

 private:
  TableLock(Connection& c, std::string name, std::string owner)
      : m_conn(&c), m_name(std::move(name)), m_owner(std::move(owner)) {}
  Connection* m_conn;
  std::string m_name, m_owner;
};

}  // namespace plexus::detail

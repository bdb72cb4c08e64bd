#include "tx/table_lock.hpp"

#include <thread>

#include "plexus/core/error.hpp"

namespace plexus::detail {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::optional<TableLock> TableLock::take(Connection& conn, std::string name, std::string owner,
                                         std::chrono::seconds ttl, std::chrono::milliseconds wait) {
  conn.execute(
      "CREATE TABLE IF NOT EXISTS plexus_locks (name VARCHAR(100) PRIMARY KEY, owner VARCHAR(200) NOT NULL, "
      "expires_at BIGINT NOT NULL)");
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (auto pause = std::chrono::milliseconds(20);; pause = std::min(pause * 2, std::chrono::milliseconds(500))) {
    const std::int64_t until = now_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
    try {
      conn.execute("INSERT INTO plexus_locks (name, owner, expires_at) VALUES (?, ?, ?)", {name, owner, until});
      return TableLock(conn, std::move(name), std::move(owner));
    } catch (const ConstraintError&) {
      // Held: take it over only if its holder let it lapse.
      if (conn.execute("UPDATE plexus_locks SET owner = ?, expires_at = ? WHERE name = ? AND expires_at < ?",
                       {owner, until, name, now_ms()})
              .affected_rows() == 1)
        return TableLock(conn, std::move(name), std::move(owner));
    }
    if (std::chrono::steady_clock::now() + pause > deadline) return std::nullopt;
    std::this_thread::sleep_for(pause);
  }
}

TableLock::~TableLock() {
  if (!m_conn) return;
  try {
    (void)m_conn->execute("DELETE FROM plexus_locks WHERE name = ? AND owner = ?", {m_name, m_owner});
  } catch (const Error&) {
    // It lapses at its expiry.
  }
}

}  // namespace plexus::detail

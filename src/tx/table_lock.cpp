#include "tx/table_lock.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>

#include "plexus/core/error.hpp"

namespace plexus::detail {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

namespace {

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

/// "host:pid:nonce": who holds a lock, so a dead holder on this host is seen at once.
std::string make_owner() {
  static std::atomic<std::uint64_t> nonce{0};
  return host_name() + ":" + std::to_string(::getpid()) + ":" + std::to_string(++nonce);
}

/// Whether `owner` was a process on this host that no longer runs.
bool dead_here(const std::string& owner) {
  const auto a = owner.find(':'), b = owner.find(':', a + 1);
  if (a == std::string::npos || b == std::string::npos || owner.substr(0, a) != host_name()) return false;
  const pid_t pid = static_cast<pid_t>(std::atoll(owner.substr(a + 1, b - a - 1).c_str()));
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

std::optional<TableLock> TableLock::take(Connection& conn, std::string name, std::chrono::seconds ttl,
                                         std::chrono::milliseconds wait) {
  const std::string owner = make_owner();
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
      // Held: take it over only if its holder let it lapse or died here.
      if (conn.execute("UPDATE plexus_locks SET owner = ?, expires_at = ? WHERE name = ? AND expires_at < ?",
                       {owner, until, name, now_ms()})
              .affected_rows() == 1)
        return TableLock(conn, std::move(name), std::move(owner));
      const Value holder = conn.on_primary().scalar("SELECT owner FROM plexus_locks WHERE name = ?", {name});
      if (!holder.is_null() && dead_here(holder.as<std::string>()) &&
          conn.execute("UPDATE plexus_locks SET owner = ?, expires_at = ? WHERE name = ? AND owner = ?",
                       {owner, until, name, holder})
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

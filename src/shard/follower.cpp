#include "shard/follower.hpp"

#include <algorithm>
#include <thread>

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/shard/shard_group.hpp"

namespace plexus::detail {

bool refused_by_seal(const Error& e) noexcept {
  return e.message().find("are sealed: an online reshard switched") != std::string::npos;
}

LayoutFollower::LayoutFollower(std::string group, Connection& control, std::chrono::milliseconds watch, Groups groups)
    : m_group(std::move(group)), m_control(control), m_watch(watch), m_groups(std::move(groups)), m_last_ok(Clock::now()) {}

std::chrono::milliseconds LayoutFollower::hold_limit() const noexcept {
  return std::max(std::chrono::milliseconds(10000), 20 * m_watch);
}

std::chrono::milliseconds LayoutFollower::stale_limit() const noexcept {
  return std::max(std::chrono::milliseconds(5000), 10 * m_watch);
}

ShardGroup* LayoutFollower::serving(bool write) {
  auto now = Clock::now();
  if (now.time_since_epoch().count() >= m_due.load(std::memory_order_acquire)) refresh(now);
  if (write && m_held.load(std::memory_order_acquire)) {
    // A switch holds this group's writes while it carries the last changes:
    // wait for the new layout (a write is delayed, not failed).
    const auto until = now + hold_limit();
    while (m_held.load(std::memory_order_acquire)) {
      if (Clock::now() >= until)
        throw Error(ErrorKind::retryable,
                    "shard group '" + m_group + "': an online reshard's switch has held its writes for more than " +
                        std::to_string(hold_limit().count()) + " ms (the process switching may have stopped); nothing "
                        "was written. See `plexus reshard status`, finish it with `plexus reshard switch`, then run "
                        "the write again");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      refresh(Clock::now());
    }
  }
  return m_serving.load(std::memory_order_acquire);
}

void LayoutFollower::refresh(Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  if (now.time_since_epoch().count() < m_due.load(std::memory_order_relaxed)) return;  // read meanwhile
  ShardGroup* serving = nullptr;
  bool held = false;
  try {
    const Result r = m_control.on_primary()
                         .table("plexus_reshards")
                         .select({"serving", "held"})
                         .where("grp", m_group)
                         .get();
    if (!r.empty()) {
      const std::string name = r[0][0].to_string();
      held = r[0][1].as<std::int64_t>() != 0;
      if (name != m_group) {
        try {
          serving = &m_groups(name);
        } catch (const Error& e) {
          throw ConfigError("shard group '" + m_group + "' is served by group '" + name + "' since an online reshard "
                            "switched it (control connection '" + m_control.name() + "'), and this process does not "
                            "configure that group: add [shards." + name + "] as the other processes have it");
        }
      }
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    if (!e.is_syntax()) {
      // The control database did not answer: keep the last layout for a
      // while (a switch cannot finish without it either), then refuse.
      if (now - m_last_ok > stale_limit())
        throw Error(e.kind(), "shard group '" + m_group + "': its layout could not be read from control connection '" +
                                  m_control.name() + "' for " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - m_last_ok).count()) +
                                  " ms, so it cannot tell whether an online reshard moved its rows: " + e.message());
      m_due.store((now + std::min(m_watch, std::chrono::milliseconds(50))).time_since_epoch().count(), std::memory_order_release);
      return;
    }
    // No plexus_reshards table: this group was never resharded online.
  }
  m_serving.store(serving, std::memory_order_release);
  m_held.store(held, std::memory_order_release);
  m_last_ok = now;
  // While writes are held, read it again before every statement.
  m_due.store(held ? 0 : (now + m_watch).time_since_epoch().count(), std::memory_order_release);
}

}  // namespace plexus::detail

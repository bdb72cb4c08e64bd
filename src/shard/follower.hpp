// How a shard group follows an online reshard (private to src/): which
// group's layout serves it now and whether a switch holds its writes, read
// from `plexus_reshards` on the group's control connection at most once per
// watch interval (before every statement while writes are held).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace plexus {
class Connection;
class ShardGroup;
}  // namespace plexus

namespace plexus {
class Error;
}

namespace plexus::detail {

/// Whether `e` is a member refusing a write because an online reshard sealed
/// it (the capture trigger's message, Grammar::capture_sql).
[[nodiscard]] bool refused_by_seal(const Error& e) noexcept;

class LayoutFollower {
 public:
  using Groups = std::function<ShardGroup&(std::string_view)>;
  LayoutFollower(std::string group, Connection& control, std::chrono::milliseconds watch, Groups groups);

  /// The group whose layout serves this one now; nullptr when it is this one
  /// (no reshard, or one that has not switched). A `write` waits while a
  /// switch holds the group's writes (polling the control database), up to
  /// hold_limit(). @throws Error (retryable) when the hold lasts longer, or
  /// when the control database has not answered for stale_limit().
  [[nodiscard]] ShardGroup* serving(bool write);

  /// The next serving() reads the layout again (a write was refused by a seal).
  void expire() noexcept { m_due.store(0, std::memory_order_release); }

  /// The serving group as last read, without reading it again (never throws).
  [[nodiscard]] const ShardGroup* last_serving() const noexcept { return m_serving.load(std::memory_order_acquire); }

  [[nodiscard]] std::chrono::milliseconds hold_limit() const noexcept;
  [[nodiscard]] std::chrono::milliseconds stale_limit() const noexcept;

 private:
  using Clock = std::chrono::steady_clock;
  /// Reads the layout now (one point select); keeps the last one for
  /// stale_limit() when the control database does not answer.
  void refresh(Clock::time_point now);

  std::string m_group;
  Connection& m_control;
  std::chrono::milliseconds m_watch;
  Groups m_groups;
  std::mutex m_mutex;                     // one refresh at a time
  std::atomic<std::int64_t> m_due{0};     // steady-clock ticks when the layout is read again
  std::atomic<ShardGroup*> m_serving{nullptr};
  std::atomic<bool> m_held{false};
  Clock::time_point m_last_ok{};
  std::string m_last_error;
};

}  // namespace plexus::detail

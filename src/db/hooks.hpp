// Hooks registered on a connection or on the whole Database (private to src/).
// Thread-safe; queries see a consistent snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "plexus/db/events.hpp"

namespace plexus::detail {

class HookRegistry {
 public:
  struct Entry {
    std::uint64_t id;
    QueryHook fn;
  };
  struct Set {
    std::vector<Entry> before, after, error;
  };
  /// Adds a hook to one of the lists. @throws UsageError for an empty one
  /// (it would throw std::bad_function_call after every statement had run).
  HookHandle add(std::vector<Entry> Set::*which, QueryHook h, const char* what);
  /// Takes hook `id` out of whichever list holds it.
  void remove(std::uint64_t id);
  [[nodiscard]] std::shared_ptr<const Set> snapshot() const;
  /// False until the first hook is added: lets queries skip hooks without a lock.
  [[nodiscard]] bool any() const noexcept { return m_any.load(std::memory_order_acquire); }

 private:
  template <class F>
  void edit(F&& f);
  std::atomic<bool> m_any{false};
  std::uint64_t m_next_id = 0;  // under m_mutex
  /// What handles point at: expires with the registry.
  std::shared_ptr<HookRegistry*> m_self = std::make_shared<HookRegistry*>(this);
  mutable std::mutex m_mutex;
  std::shared_ptr<const Set> m_set = std::make_shared<Set>();
};

}  // namespace plexus::detail

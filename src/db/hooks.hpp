// Hooks registered on a connection or on the whole Database (private to src/).
// Thread-safe; queries see a consistent snapshot.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "plexus/db/events.hpp"

namespace plexus::detail {

class HookRegistry {
 public:
  struct Set {
    std::vector<QueryHook> before, after, error;
  };
  void add_before(QueryHook h);
  void add_after(QueryHook h);
  void add_error(QueryHook h);
  [[nodiscard]] std::shared_ptr<const Set> snapshot() const;
  /// False until the first hook is added: lets queries skip hooks without a lock.
  [[nodiscard]] bool any() const noexcept { return m_any.load(std::memory_order_acquire); }

 private:
  template <class F>
  void edit(F&& f);
  std::atomic<bool> m_any{false};
  mutable std::mutex m_mutex;
  std::shared_ptr<const Set> m_set = std::make_shared<Set>();
};

}  // namespace plexus::detail

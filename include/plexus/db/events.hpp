// What hooks see: every query with the database it went to.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "plexus/core/value.hpp"

namespace plexus {

class Error;
namespace detail {
class HookRegistry;
}

/// Whether a statement only reads (may go to a replica) or writes (primary).
enum class Intent : std::uint8_t { read, write };

/// One query as it runs. Views are valid only during the hook call.
struct QueryEvent {
  std::string_view connection;  ///< logical name, e.g. "users_db"
  std::string_view role;        ///< "primary" or "replica"
  std::string_view host;        ///< "127.0.0.1:5432" or the SQLite file
  std::string_view shard;       ///< shard name when routed by a shard group
  std::string_view route;       ///< why it went there: "write", "read", "transaction", "forced", …
  std::string_view sql;
  std::span<const Value> bindings;  ///< empty when the connection redacts bindings
  bool bindings_redacted = false;
  Intent intent = Intent::write;
  std::chrono::nanoseconds duration{0};  ///< 0 in before-hooks
  std::uint64_t rows = 0;                ///< rows returned, or affected by a write
  std::uint64_t transaction_id = 0;      ///< 0 outside a transaction
  unsigned attempt = 1;                  ///< which run of a retried transaction (1, 2, …)
  std::string_view global_id;            ///< the global id of a two-phase commit, "" otherwise
  const Error* error = nullptr;          ///< set for on_error hooks
};

using QueryHook = std::function<void(const QueryEvent&)>;

/// A hook as registered by on_before_query(), on_after_query() or
/// on_error(): remove() takes it out, so later statements no longer call it.
/// Dropping the handle keeps the hook; remove() twice, or after the
/// Database is gone, does nothing.
class HookHandle {
 public:
  HookHandle() = default;
  HookHandle(std::weak_ptr<detail::HookRegistry*> registry, std::uint64_t id) noexcept
      : m_registry(std::move(registry)), m_id(id) {}
  void remove();
  /// Whether it still names a registered hook.
  [[nodiscard]] bool active() const noexcept { return m_id != 0 && !m_registry.expired(); }

 private:
  std::weak_ptr<detail::HookRegistry*> m_registry;
  std::uint64_t m_id = 0;
};

/// A hook that calls `fn` only for queries slower than `threshold`
/// (the seed's "if (duration > 1000) Logger.warn(...)").
QueryHook slow_query_hook(std::chrono::nanoseconds threshold, QueryHook fn);

}  // namespace plexus

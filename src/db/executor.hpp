// The executor: runs one statement on a leased session with hooks, timing
// and error context; the one place every statement of a connection passes
// through (private to src/).
#pragma once

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "db/hooks.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/pool.hpp"
#include "plexus/db/queryable.hpp"
#include "plexus/db/statement.hpp"

namespace plexus::detail {

/// Counts a statement (or an open cursor) in flight on a replica while it lives.
class InFlight {
 public:
  InFlight() = default;
  explicit InFlight(std::atomic<int>* n) noexcept : m_n(n) {
    if (m_n) m_n->fetch_add(1, std::memory_order_relaxed);
  }
  InFlight(InFlight&& o) noexcept : m_n(std::exchange(o.m_n, nullptr)) {}
  InFlight& operator=(InFlight&& o) noexcept {
    if (this != &o) {
      if (m_n) m_n->fetch_sub(1, std::memory_order_relaxed);
      m_n = std::exchange(o.m_n, nullptr);
    }
    return *this;
  }
  ~InFlight() {
    if (m_n) m_n->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<int>* m_n = nullptr;
};

/// Where a statement runs, for events and errors.
struct RunContext {
  const Pool& pool;
  std::string_view reason;  ///< "write", "read: round_robin", "transaction", …
  std::uint64_t tx_id = 0;
  unsigned attempt = 1;          ///< which run of a retried transaction
  std::string_view global_id = {};  ///< the global transaction of a two-phase commit
};

class Executor {
 public:
  Executor(const ConnectionConfig& cfg, std::shared_ptr<const HookRegistry> global);

  /// Runs `s` on `lease`: refuses SQL text holding a NUL byte, fires the
  /// hooks, times it, adds the connection context to errors and discards the
  /// session after a connection-level failure. Returns as Queryable::run
  /// does. A cursor takes the lease (it gives it back when its rows run out
  /// or it is destroyed) and `in_flight`, which it holds until then.
  std::uint64_t run(Pool::Lease& lease, const RunContext& at, const Statement& s, InFlight* in_flight = nullptr);
  /// BEGIN / COMMIT / ROLLBACK on `lease`, as events of transaction `tx_id`.
  void transaction_step(Pool::Lease& lease, const RunContext& at, std::string_view what,
                        const std::function<void(driver::Session&)>& step);
  /// Tells the after-hooks that a transaction runs again (attempt `next` of `max`) after `why`.
  void report_retry(const Pool& primary, const Error& why, unsigned next, unsigned max);
  /// A session from `pool`; a failure to get one reaches the error hooks.
  Pool::Lease acquire(Pool& pool, std::string_view reason, std::string_view sql, std::span<const Value> params,
                      Intent intent) {
    try {
      return pool.acquire();
    } catch (Error& e) {
      acquire_failed(e, pool, reason, sql, params, intent);
    }
  }
  /// Refuses a write on a connection configured read_only.
  void refuse_if_read_only(std::string_view sql, Intent intent, const Pool& primary) const {
    if (m_cfg.read_only && intent != Intent::read) [[unlikely]]
      refuse_write(sql, primary);
  }

  /// A statement whose session the caller drives itself (the asynchronous
  /// path) is reported as run() reports one: start() refuses a NUL byte in
  /// its text and tells the before-hooks; finish() or fail() record the
  /// metrics and tell the after- or error-hooks (fail() also discards the
  /// session after a connection failure and adds the context to `e`).
  /// `sql` and `params` must outlive the Started.
  struct Started {
    std::chrono::steady_clock::time_point start;
    std::optional<QueryEvent> ev;  ///< made only when a hook is set
  };
  [[nodiscard]] Started start(const RunContext& at, std::string_view sql, std::span<const Value> params, Intent intent);
  void finish(Started& s, const RunContext& at, Intent intent, std::uint64_t rows);
  void fail(Started& s, Error& e, Pool::Lease& lease, const RunContext& at, std::string_view sql,
            std::span<const Value> params, Intent intent) {
    failed(e, lease, at, sql, params, intent, std::chrono::steady_clock::now() - s.start, s.ev ? &*s.ev : nullptr);
  }
  /// Tells the error hooks that no session could be taken on `pool` for `sql`
  /// (what acquire() does before it throws).
  void report_acquire_failure(Error& e, const Pool& pool, std::string_view reason, std::string_view sql,
                              std::span<const Value> params, Intent intent);

  [[nodiscard]] HookRegistry& hooks() noexcept { return m_hooks; }
  void redact_bindings(bool on) noexcept { m_redact.store(on, std::memory_order_relaxed); }
  [[nodiscard]] const ConnectionConfig& config() const noexcept { return m_cfg; }

 private:
  /// Opens the cursor of `s` on `lease` (moved into it); `on_close` runs when it closes.
  Cursor stream(Pool::Lease lease, const RunContext& at, const Statement& s, std::function<void()> on_close);
  [[noreturn]] void refuse_write(std::string_view sql, const Pool& primary) const;
  [[noreturn]] void acquire_failed(Error& e, const Pool& pool, std::string_view reason, std::string_view sql,
                                   std::span<const Value> params, Intent intent);
  /// What a failed statement leaves: metrics, the session discarded after a
  /// connection failure, the error's context, the error hooks (with `ev`,
  /// or an event built now when a hook was added while it ran).
  void failed(Error& e, Pool::Lease& lease, const RunContext& at, std::string_view sql, std::span<const Value> params,
              Intent intent, std::chrono::nanoseconds took, QueryEvent* ev);
  /// Runs `body` as the statement `sql`: NUL check, hooks (rows(result) for
  /// the after-event), metrics, and the context of an error.
  template <class Body, class Rows>
  auto measured(Pool::Lease& lease, const RunContext& at, std::string_view sql, std::span<const Value> params, Intent intent,
                Body&& body, Rows&& rows) -> decltype(body());
  [[nodiscard]] bool hooked() const noexcept { return m_hooks.any() || (m_global && m_global->any()); }
  QueryEvent event(const RunContext& at, std::string_view sql, std::span<const Value> params, Intent intent) const;
  void fire(std::vector<HookRegistry::Entry> HookRegistry::Set::*which, const QueryEvent& ev) const;

  const ConnectionConfig& m_cfg;
  HookRegistry m_hooks;
  std::shared_ptr<const HookRegistry> m_global;
  std::atomic<bool> m_redact{false};
};

/// SQL text is handed to engines as C strings in places (libpq, SQLite's
/// parser stops at NUL): text past a NUL byte would be dropped and a
/// different statement run. @throws UsageError before anything is sent.
[[noreturn]] void refuse_nul_at(std::string_view sql, const void* nul);
inline void refuse_nul(std::string_view sql) {
  if (const void* nul = std::memchr(sql.data(), 0, sql.size())) [[unlikely]]
    refuse_nul_at(sql, nul);
}

}  // namespace plexus::detail

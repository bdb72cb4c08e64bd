// A connection's parts (private to src/): configuration and engine, its
// checked options, the executor, the primary pool and the router with the
// replica pools. Connection, RoutedConnection and Transaction are views of it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "db/executor.hpp"
#include "db/metrics.hpp"
#include "db/router.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::detail {

class ConnectionCore {
 public:
  /// `cfg.driver` is the engine's canonical name; `options` are checked.
  ConnectionCore(ConnectionConfig cfg, const driver::Engine& engine, driver::Options options,
                 std::unique_ptr<Picker> picker, std::shared_ptr<const HookRegistry> global, ConnectionBudget* budget);

  const ConnectionConfig cfg;
  const driver::Engine& engine;
  const Grammar& grammar;  ///< the engine's, asked once (every builder call wants it)
  const driver::Options options;
  Executor exec;
  /// The primary candidates (cfg.hosts; one for most connections): the router
  /// follows the one that takes writes, the others serve reads.
  std::vector<std::unique_ptr<Pool>> candidates;
  Router router;
  /// The pool of the primary that takes writes now.
  [[nodiscard]] Pool& primary() noexcept { return router.primary(); }
  std::atomic<std::uint64_t> tx_counter{0};
  ConnectionMetrics metrics;
  /// What the asynchronous API keeps per connection (its worker threads),
  /// made on first use and destroyed with the connection, so no thread of
  /// it outlives the Database (nor the engines' libraries at exit).
  std::shared_ptr<void> async_state;
  std::mutex async_mutex;

  // ---- statements (RoutedConnection and Connection forward here) ----
  /// Routes `s` and runs it: the router hands out a session on the host to
  /// try, the executor runs the statement there, the router is told how it
  /// went (and hands out the next host when a read may move on). Returns as
  /// Queryable::run does. A write batch on a connection is one transaction:
  /// the facades open it; a read batch runs here.
  std::uint64_t run(const Statement& s, const RouteOptions& o);

  // ---- warnings (replaced as a whole, called from a snapshot) ----
  using WarnFn = std::function<void(const std::string&)>;
  void set_warn(WarnFn fn);
  void warn(const std::string& msg) const;

 private:
  mutable std::mutex m_warn_mutex;
  std::shared_ptr<const WarnFn> m_warn;
};

/// BEGIN (with `opts`' isolation and read-only) on `lease` as attempt
/// `attempt` of transaction `id`, through the executor's hooks; the session
/// is discarded after a connection failure. What Connection::begin and the
/// asynchronous begin run.
void begin_step(ConnectionCore& core, Pool::Lease& lease, const TransactionOptions& opts, std::uint64_t id,
                unsigned attempt);
/// COMMIT (or ROLLBACK) of transaction `id` on `lease`; the session is
/// discarded when it fails (its state is unknown).
void finish_step(ConnectionCore& core, Pool::Lease& lease, std::uint64_t id, unsigned attempt, bool commit);

}  // namespace plexus::detail

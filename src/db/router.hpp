// The router of one connection: which host a statement goes to. It owns the
// replica set (pools, weights, ejection, lag, in-flight counts) and the one
// candidate walk that queries, typed reads, batches and cursors share
// (private to src/).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/executor.hpp"
#include "plexus/db/statement.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/picker.hpp"
#include "plexus/db/pool.hpp"
#include "plexus/db/unit_of_work.hpp"

namespace plexus {
struct RouteOptions;
}

namespace plexus::detail {

struct Replica {
  Pool* pool = nullptr;
  std::unique_ptr<Pool> owned;  ///< a read host's pool (a primary candidate's belongs to the connection)
  unsigned weight = 1;
  std::atomic<std::int64_t> ejected_until{0};  // steady_clock ticks
  std::atomic<int> in_flight{0};
  std::atomic<std::int64_t> lag_ms{-1};  // -1 = unknown
  std::atomic<std::int64_t> lag_checked{0};  ///< when lag and readiness were last asked
  std::atomic<bool> ready{true};             ///< serves_reads() at the last check
  std::atomic<std::uint64_t> ejections{0};
};

/// The host a route tries next, before a session is taken there.
struct Leg {
  Pool* pool = nullptr;
  std::string_view reason;
  Replica* replica = nullptr;  ///< a read host (null: the primary)
  InFlight in_flight;          ///< a read host counts the read from before its session is taken
};

/// One step of a route: a session on the host chosen, and why it was chosen.
struct Attempt {
  Pool& pool;
  Pool::Lease lease;
  std::string_view reason;
  InFlight in_flight;  ///< move it into anything that outlives the attempt (a cursor)
};

class Router {
 public:
  using Warn = std::function<void(const std::string&)>;
  /// `candidates`: the primary candidates (cfg.hosts), the first taken as the
  /// primary until a write finds otherwise; each also serves reads while it is
  /// not the primary.
  Router(const ConnectionConfig& cfg, Executor& exec, std::vector<Pool*> candidates, std::unique_ptr<Picker> picker,
         Warn warn);

  /// Adds a replica (in read_hosts order). Call before serving.
  void add_replica(std::unique_ptr<Pool> pool, unsigned weight);
  /// Lets the primary candidates serve reads while they are not the primary
  /// (after the read hosts, so replica(i) keeps read_hosts order).
  void add_candidates_as_replicas();

  /// The pool of the primary that takes writes now.
  [[nodiscard]] Pool& primary() const noexcept { return *m_candidates[m_writer.load(std::memory_order_acquire)]; }
  /// Every pool once: the primary candidates, then the read hosts.
  [[nodiscard]] std::vector<Pool*> pools() const;
  /// Whether there are several primary candidates to follow a fail-over between.
  [[nodiscard]] bool follows_failover() const noexcept { return m_candidates.size() > 1; }
  /// After `why` (a lost connection, or a write refused as read-only) on
  /// `failed`, the primary that takes writes now: asks each candidate's role
  /// (waiting up to failover_wait for one to appear) and moves the writer
  /// there. Threads that fail at once share one search.
  /// @throws ConnectionError naming each candidate and why it is not the primary.
  Pool& follow(Pool& failed, const Error& why);
  /// A session on the primary; a connection failure there (nothing was sent)
  /// follows a fail-over and tries the new primary.
  Attempt writer_leg(std::string_view reason, std::string_view sql, std::span<const Value> params, Intent intent) {
    if (!follows_failover()) [[likely]] {  // one primary: nothing to follow
      Pool& pool = primary();
      return Attempt{pool, m_exec.acquire(pool, reason, sql, params, intent), reason, InFlight()};
    }
    return following_writer_leg(reason, sql, params, intent);
  }
  /// A session on the primary for a transaction (BEGIN): after a connection
  /// failure, on the primary there is now.
  /// A session of the primary for a transaction whose first statement is
  /// `first` (what an error while opening the session says it was about to run).
  Pool::Lease writer_session(std::string_view reason, std::string_view first = "BEGIN") {
    return writer_leg(reason, first, {}, Intent::write).lease;
  }
  [[nodiscard]] std::uint64_t failovers() const noexcept { return m_failovers.load(std::memory_order_relaxed); }

  class Route;

  [[nodiscard]] std::size_t replica_count() const noexcept { return m_replicas.size(); }
  [[nodiscard]] Replica& replica(std::size_t i) { return *m_replicas.at(i); }
  [[nodiscard]] bool eligible(const Replica& r) const noexcept;
  void eject(Replica& r, const Error& why);
  /// Records the unit's write (and, for causal reads, the primary's position).
  void record_write(driver::Session& s, const RouteOptions& o);
  [[nodiscard]] Consistency consistency(const RouteOptions& o) const noexcept;

 private:
  /// Replica indexes to try, in order: the picker's choice first, then the rest.
  /// Only replicas not ejected are listed; at most kMaxWalk without allocating.
  static constexpr std::size_t kMaxWalk = 16;
  struct ReplicaOrder {
    std::array<std::size_t, kMaxWalk> fixed{};
    std::vector<std::size_t> more;
    std::size_t n = 0;
    void push(std::size_t i) {
      if (n < kMaxWalk) fixed[n] = i;
      else more.push_back(i);
      ++n;
    }
    [[nodiscard]] std::size_t operator[](std::size_t k) const { return k < kMaxWalk ? fixed[k] : more[k - kMaxWalk]; }
  };
  ReplicaOrder walk();
  /// Whether the replica may serve this read: ready (serves_reads) and, with
  /// max_replica_lag set, measured within it; both asked at most every 500 ms.
  bool fit(Replica& r, Pool::Lease& lease);
  [[nodiscard]] std::string_view strategy_reason() const noexcept { return m_reason; }
  /// `last_error`: the message of the last replica that failed, or null when none did.
  [[noreturn]] void no_replica(std::string_view sql, const std::string* last_error) const;
  /// writer_leg() with several primary candidates.
  Attempt following_writer_leg(std::string_view reason, std::string_view sql, std::span<const Value> params, Intent intent);

  const ConnectionConfig& m_cfg;
  Executor& m_exec;
  std::vector<Pool*> m_candidates;
  std::atomic<std::size_t> m_writer{0};
  std::mutex m_follow_mutex;
  std::uint64_t m_searches = 0;        // guarded by m_follow_mutex: searches finished
  std::optional<ConnectionError> m_search_failed;  // the last search's failure, if it failed
  std::atomic<std::uint64_t> m_failovers{0};
  std::vector<std::unique_ptr<Replica>> m_replicas;
  std::unique_ptr<Picker> m_picker;
  std::string m_reason;  // "read: <strategy>"
  Warn m_warn;
};

/// One statement's walk over the hosts that may take it: next() hands out a
/// session on the host to try, failed() says whether the walk goes on after
/// an error there, succeeded() ends it. The caller runs the statement in
/// between (ConnectionCore::run): the router never calls the executor.
///
/// next() is plan() (the host, nothing taken yet), a session taken there,
/// and accept() (is the host fit for this read?), with acquire_failed()
/// after a failure to take or check one. The steps are public for a caller
/// that takes sessions without blocking (the asynchronous API): it walks the
/// same route, awaiting the session between plan() and accept().
///
/// Writes, forced and sticky reads go to the primary; other reads to a
/// replica in the picker's order, walking on past one that fails before any
/// row reached the caller (it is ejected for replica_cooldown), then to the
/// primary. Causal reads wait for one replica to replay the unit's last
/// write; lagging replicas are skipped. A read on the primary whose session
/// had died runs once more on a fresh one; a write refused as read-only by a
/// demoted primary runs once on the primary there is now. Once rows of the
/// statement have reached the caller nothing is retried.
class Router::Route {
 public:
  /// @throws UsageError for on_replica() on a connection without read hosts.
  Route(Router& router, const Statement& s, const RouteOptions& o);
  /// A session on the next host to try. @throws the error that ends the walk
  /// (a primary that cannot be reached, no replica for on_replica()).
  Attempt next();
  /// The next host to try; the caller takes a session there (the error hooks
  /// told of a failure on the primary), then calls accept() or
  /// acquire_failed(). @throws the error that ends the walk (no replica for
  /// on_replica()).
  Leg plan();
  /// Whether the session taken for `leg` may serve the statement (a replica
  /// ready, within max_replica_lag, caught up with the unit's last write);
  /// false: plan() again. @throws a connection error (then acquire_failed()).
  bool accept(Leg& leg, Pool::Lease& lease);
  /// Whether accept() of the leg plan() handed out last may wait for the
  /// server (a causal read waiting up to causal_wait for the replica to
  /// replay the unit's write); other checks are one quick statement at most
  /// twice a second per replica.
  [[nodiscard]] bool accept_may_wait() const noexcept { return m_planned == Phase::causal; }
  /// After taking or checking a session for `leg` failed with `e`: returns
  /// when plan() has another host (a replica left out, the primary there is
  /// after a fail-over), else throws `e`.
  void acquire_failed(Leg& leg, const Error& e);
  /// After `e` on `leg`: true when next() has another host to try, false
  /// when `e` is the statement's error.
  bool failed(Attempt& leg, const Error& e);
  /// After the statement ran on `leg` (a write is recorded in its unit of work).
  void succeeded(Attempt& leg);

 private:
  enum class Phase : std::uint8_t {
    primary,        ///< the primary is next (m_reason says why)
    primary_tried,  ///< the primary took the statement; one more try may follow
    primary_again,  ///< the one more try is next (m_reason)
    last,           ///< nothing follows: the last failure is the statement's
    causal,         ///< replicas in walk order, waiting for the unit's position
    replicas,       ///< replicas in walk order, then the primary
  };
  /// Where a read that may go to a replica goes first (out of line: the
  /// common routes, to the primary, are decided inline).
  void plan_read();
  /// next() for every host but the first try on the primary.
  Attempt next_other();
  /// Goes to the primary next, for `reason`.
  void to_primary(std::string_view reason) noexcept {
    m_phase = Phase::primary;
    m_reason = reason;
  }

  Router& m_r;
  const Statement& m_s;
  const RouteOptions& m_o;
  Phase m_phase = Phase::primary;
  Phase m_planned = Phase::primary;  ///< the phase plan() handed the last leg out in
  std::string_view m_reason;
  /// A read that may go to a replica: its walk (made only for such a read,
  /// so a statement for the primary pays one flag for it).
  struct Replicas {
    // A constructor rather than member initializers: clang cannot use those
    // of a nested class in std::optional before the enclosing class is complete.
    Replicas() noexcept : next(0), on(nullptr) {}
    ReplicaOrder order;                              ///< the replicas to try
    std::size_t next;                        ///< in order
    Replica* on;                             ///< the replica of the leg handed out
    std::optional<std::string> position;     ///< causal: the unit's last write
    std::optional<std::string> last_error;   ///< the last replica failure's message, once one failed
  };
  std::optional<Replicas> m_walk;
};

}  // namespace plexus::detail

#include "db/router_impl.hpp"

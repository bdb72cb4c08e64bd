// Router::route: the one candidate walk (included by router.hpp).
#pragma once

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"

namespace plexus::detail {

template <class F>
auto Router::on_primary(std::string_view reason, std::string_view sql, std::span<const Value> params, Intent intent,
                        const RouteOptions& o, const Mode* mode, F&& attempt)
    -> decltype(attempt(std::declval<Leg&>())) {
  return primary_leg(reason, sql, params, intent, o, mode, attempt);
}

template <class F>
inline auto Router::primary_leg(std::string_view reason, std::string_view sql, std::span<const Value> params,
                                Intent intent, const RouteOptions& o, const Mode* mode, F&& attempt)
    -> decltype(attempt(std::declval<Leg&>())) {
  Leg leg = writer_leg(reason, sql, params, intent);
  if (intent == Intent::read) {
    // A read that failed because its session had died (a server restart
    // between the pool's check and the statement) runs once more on a fresh
    // session (on the new primary after a fail-over), as long as no row has
    // reached the caller. Writes are not rerun: the pool's check before
    // handing a session out is what keeps them from being sent on a dead one.
    try {
      return attempt(leg);
    } catch (const Error& e) {
      if (!e.is_connection_error() || started(mode)) throw;
      if (follows_failover()) (void)follow(leg.pool, e);
    }
    Leg fresh = writer_leg("read: again on a fresh session", sql, params, intent);
    return attempt(fresh);
  }
  auto write = [&](Leg& on) {
    if constexpr (std::is_void_v<decltype(attempt(on))>) {
      attempt(on);
      if (o.uow && on.lease) record_write(*on.lease, o);
    } else {
      auto r = attempt(on);
      if (o.uow && on.lease) record_write(*on.lease, o);
      return r;
    }
  };
  if (!follows_failover()) return write(leg);
  try {
    return write(leg);
  } catch (const Error& e) {
    // A write refused as read-only reached a demoted primary and changed
    // nothing: it runs once on the primary there is now. After a lost
    // connection its outcome is unknown, so it is not rerun; the next write
    // goes to the new primary.
    if (!e.is_connection_error() && !e.is_read_only_violation()) throw;
    Pool& next = follow(leg.pool, e);
    if (!e.is_read_only_violation() || &next == &leg.pool) throw;
  }
  Leg moved = writer_leg("write: on the new primary after a fail-over", sql, params, intent);
  return write(moved);
}

template <class F>
auto Router::route(std::string_view sql, std::span<const Value> params, Intent intent, const RouteOptions& o,
                   const Mode* mode, F&& attempt) -> decltype(attempt(std::declval<Leg&>())) {
  using Side = RouteOptions::Side;
  // Writes, forced reads and reads without replicas: the primary, by the one inline path.
  std::string_view to_primary;
  if (intent == Intent::write) {
    to_primary = "write";
  } else if (o.side == Side::primary) {
    to_primary = "read: forced primary";
  } else if (m_replicas.empty()) {
    if (o.side == Side::replica)
      throw UsageError("connection '" + m_cfg.name + "' has no read_hosts, so on_replica() cannot be served");
    to_primary = "read";
  }
  if (!to_primary.empty()) return primary_leg(to_primary, sql, params, intent, o, mode, attempt);
  if (o.uow && o.side != Side::replica && o.uow->wrote(m_cfg.name)) {
    switch (consistency(o)) {
      case Consistency::sticky:
        return on_primary("read: sticky (this unit wrote)", sql, params, intent, o, mode, attempt);
      case Consistency::causal: {
        auto pos = o.uow->position(m_cfg.name);
        if (!pos) return on_primary("read: causal (no position, primary)", sql, params, intent, o, mode, attempt);
        // Wait on one replica only: waiting on each in turn would multiply the bound.
        const Walk order = walk();
        for (std::size_t k = 0; k < order.n; ++k) {
          Replica& r = *m_replicas[order[k]];
          try {
            Leg leg{*r.pool, r.pool->acquire(), "read: causal (replica caught up)", InFlight(&r.in_flight)};
            if (!leg.lease->wait_for_position(*pos, m_cfg.causal_wait)) break;
            return attempt(leg);
          } catch (const Error& e) {
            if (!e.is_connection_error() || started(mode)) throw;
            eject(r, e);
          }
        }
        return on_primary("read: causal (replica behind, primary)", sql, params, intent, o, mode, attempt);
      }
      default: break;
    }
  }
  std::string last_error;  // the last failure's message (an Error kept here would be zeroed on every read)
  bool failed = false;
  const Walk order = walk();
  for (std::size_t k = 0; k < order.n; ++k) {
    Replica& r = *m_replicas[order[k]];
    try {
      // Counted from before the session is acquired: a read waiting for a
      // connection is outstanding work on that host too.
      InFlight counted(&r.in_flight);
      Leg leg{*r.pool, r.pool->acquire(), strategy_reason(), InFlight()};
      if (!fit(r, leg.lease)) continue;
      leg.in_flight = std::move(counted);
      return attempt(leg);
    } catch (const Error& e) {
      if (!e.is_connection_error() || started(mode)) throw;
      eject(r, e);
      last_error = e.message();
      failed = true;
    }
  }
  if (o.side == Side::replica) no_replica(sql, failed ? &last_error : nullptr);
  return on_primary("read: fallback to primary (no replica available)", sql, params, intent, o, mode, attempt);
}

}  // namespace plexus::detail

// Router::route: the one candidate walk (included by router.hpp).
#pragma once

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"

namespace plexus::detail {

template <class F>
auto Router::on_primary(std::string_view reason, std::string_view sql, std::span<const Value> params, Intent intent,
                        const RouteOptions& o, const Mode* mode, F&& attempt)
    -> decltype(attempt(std::declval<Leg&>())) {
  Leg leg{m_primary, m_exec.acquire(m_primary, reason, sql, params, intent), reason, InFlight()};
  if (intent == Intent::read) {
    // A read that failed because its session had died (a server restart
    // between the pool's check and the statement) runs once more on a fresh
    // session, as long as no row has reached the caller. Writes are not
    // rerun: the pool's check before handing a session out is what keeps
    // them from being sent on a dead one.
    try {
      return attempt(leg);
    } catch (const Error& e) {
      if (!e.is_connection_error() || started(mode)) throw;
    }
    constexpr std::string_view again = "read: again on a fresh session";
    Leg fresh{m_primary, m_exec.acquire(m_primary, again, sql, params, intent), again, InFlight()};
    return attempt(fresh);
  }
  if constexpr (std::is_void_v<decltype(attempt(leg))>) {
    attempt(leg);
    if (o.uow && leg.lease) record_write(*leg.lease, o);
  } else {
    auto r = attempt(leg);
    if (o.uow && leg.lease) record_write(*leg.lease, o);
    return r;
  }
}

template <class F>
auto Router::route(std::string_view sql, std::span<const Value> params, Intent intent, const RouteOptions& o,
                   const Mode* mode, F&& attempt) -> decltype(attempt(std::declval<Leg&>())) {
  using Side = RouteOptions::Side;
  if (intent == Intent::write) return on_primary("write", sql, params, intent, o, mode, attempt);
  if (o.side == Side::primary) return on_primary("read: forced primary", sql, params, intent, o, mode, attempt);
  if (m_replicas.empty()) {
    if (o.side == Side::replica)
      throw UsageError("connection '" + m_cfg.name + "' has no read_hosts, so on_replica() cannot be served");
    return on_primary("read", sql, params, intent, o, mode, attempt);
  }
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
  std::optional<Error> last;
  const Walk order = walk();
  for (std::size_t k = 0; k < order.n; ++k) {
    Replica& r = *m_replicas[order[k]];
    try {
      // Counted from before the session is acquired: a read waiting for a
      // connection is outstanding work on that host too.
      InFlight counted(&r.in_flight);
      Leg leg{*r.pool, r.pool->acquire(), strategy_reason(), InFlight()};
      if (!lag_ok(r, leg.lease)) continue;
      leg.in_flight = std::move(counted);
      return attempt(leg);
    } catch (const Error& e) {
      if (!e.is_connection_error() || started(mode)) throw;
      eject(r, e);
      last = e;
    }
  }
  if (o.side == Side::replica) no_replica(sql, last);
  return on_primary("read: fallback to primary (no replica available)", sql, params, intent, o, mode, attempt);
}

}  // namespace plexus::detail

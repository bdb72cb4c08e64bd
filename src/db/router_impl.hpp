// Router::Route: one statement's walk (included by router.hpp; inline, so the
// common route, one primary, costs what a direct call would).
#pragma once

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"

namespace plexus::detail {

inline Router::Route::Route(Router& router, const Statement& s, const RouteOptions& o) : m_r(router), m_s(s), m_o(o) {
  // Writes, forced reads and reads without replicas: the primary, without a call.
  if (s.intent == Intent::write) m_reason = "write";
  else if (o.side == RouteOptions::Side::primary) m_reason = "read: forced primary";
  else if (router.m_replicas.empty() && o.side != RouteOptions::Side::replica) m_reason = "read";
  else plan_read();
}

inline Attempt Router::Route::next() {
  if (m_phase == Phase::primary) [[likely]] {
    m_phase = Phase::primary_tried;
    return m_r.writer_leg(m_reason, m_s.sql, m_s.params, m_s.intent);
  }
  return next_other();
}

inline void Router::Route::succeeded(Attempt& leg) {
  if (m_s.intent == Intent::write && m_o.uow && leg.lease) [[unlikely]]
    m_r.record_write(*leg.lease, m_o);
}

}  // namespace plexus::detail

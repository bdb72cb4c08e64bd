#include "plexus/db/events.hpp"

namespace plexus {

QueryHook slow_query_hook(std::chrono::nanoseconds threshold, QueryHook fn) {
  return [threshold, fn = std::move(fn)](const QueryEvent& ev) {
    if (ev.duration > threshold) fn(ev);
  };
}

}  // namespace plexus

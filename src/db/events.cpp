#include "plexus/db/events.hpp"

#include "plexus/core/error.hpp"

namespace plexus {

QueryHook slow_query_hook(std::chrono::nanoseconds threshold, QueryHook fn) {
  if (!fn) throw UsageError("slow_query_hook() was given an empty hook (nullptr or an empty std::function); pass a callable");
  return [threshold, fn = std::move(fn)](const QueryEvent& ev) {
    if (ev.duration > threshold) fn(ev);
  };
}

}  // namespace plexus

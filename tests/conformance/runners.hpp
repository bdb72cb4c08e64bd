// The ways a statement given as SQL text can be run, for the property tests
// that try every one of them with the same generated statements.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "plexus/plexus.hpp"

namespace plexus::test {

/// One way to run a statement: each API that takes SQL text.
struct Runner {
  const char* name;
  std::function<void(SingleTarget&, const std::string&, std::span<const Value>)> run;
};

#ifdef PLEXUS_HAS_ASYNC
/// async_select and async_execute, each awaited on an io_context of its own
/// (async_runners.cpp): on a Connection or a routed view of one.
std::vector<Runner> async_runners();
#endif

}  // namespace plexus::test

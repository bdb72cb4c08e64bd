// The postgres dialect (folder-private).
#pragma once

#include "plexus/driver/grammar.hpp"

namespace plexus::engine::postgres {
const Grammar& grammar();
}  // namespace plexus::engine::postgres

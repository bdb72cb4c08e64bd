// The mysql dialect (folder-private).
#pragma once

#include "plexus/driver/grammar.hpp"

namespace plexus::engine::mysql {
const Grammar& grammar();
}  // namespace plexus::engine::mysql

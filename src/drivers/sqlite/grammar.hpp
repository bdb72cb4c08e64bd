// The sqlite dialect (folder-private).
#pragma once

#include "plexus/driver/grammar.hpp"

namespace plexus::engine::sqlite {
const Grammar& grammar();
}  // namespace plexus::engine::sqlite

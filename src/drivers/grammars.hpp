// Each engine's SQL grammar (pure text; compiled whatever engines are enabled).
#pragma once

#include "plexus/query/grammar.hpp"

namespace plexus::detail {
const Grammar& sqlite_grammar();
const Grammar& postgres_grammar();
const Grammar& mysql_grammar();
}  // namespace plexus::detail

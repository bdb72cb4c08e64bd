// The sqlite dialect (folder-private).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plexus/driver/grammar.hpp"

namespace plexus::engine::sqlite {
const Grammar& grammar();
/// Each column of a CREATE TABLE statement with its COLLATE clause's
/// collation ("" when it has none); defined with the engine descriptor.
std::vector<std::pair<std::string, std::string>> column_collations(std::string_view create);
}  // namespace plexus::engine::sqlite

// A shard group's own configured layout, whatever layout serves it now
// (private to src/): what an online reshard copies from and to, while the
// group's public calls follow the layout that serves it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace plexus {
class Connection;
class ShardGroup;
class Value;
}  // namespace plexus

namespace plexus::detail {

struct OwnLayout {
  [[nodiscard]] static Connection& member(const ShardGroup& g, std::size_t i);
  /// @throws UsageError for a key the strategy cannot place.
  [[nodiscard]] static std::size_t place(const ShardGroup& g, const Value& key);
  [[nodiscard]] static const std::vector<std::string>& names(const ShardGroup& g);
};

}  // namespace plexus::detail

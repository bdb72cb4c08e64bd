// Building a Database's shard groups (private to src/).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "plexus/shard/shard_group.hpp"

namespace plexus::detail {

/// A group over `members` (its connections, in order). @throws ConfigError
/// naming the group when its strategy is unknown or incomplete.
[[nodiscard]] std::unique_ptr<ShardGroup> make_shard_group(
    const ShardGroupConfig& cfg, const std::function<Connection&(std::string_view)>& connection,
    const std::map<std::string, ShardFunction, std::less<>>& registered);

}  // namespace plexus::detail

// Building a Database's shard groups (private to src/).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "plexus/shard/shard_group.hpp"
#include "plexus/tx/global_transaction.hpp"

namespace plexus::detail {

/// Starts a transaction across the named connections (Database::begin_global).
using BeginGlobal = std::function<GlobalTransaction(std::span<const std::string>)>;

/// A group over `members` (its connections, in order); `begin_global` runs
/// the moves of rows whose shard key changes; `groups` finds another group by
/// name (the layout an online reshard switched this one to). @throws ConfigError naming the
/// group when its strategy is unknown or incomplete.
[[nodiscard]] std::unique_ptr<ShardGroup> make_shard_group(
    const ShardGroupConfig& cfg, const std::function<Connection&(std::string_view)>& connection,
    const std::map<std::string, ShardFunction, std::less<>>& registered, BeginGlobal begin_global,
    std::function<ShardGroup&(std::string_view)> groups);

}  // namespace plexus::detail

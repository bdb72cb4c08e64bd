// How a shard group's key picks a member: modulo, range, jump consistent
// hash, directory, or a user function (private to src/).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "plexus/config/config.hpp"
#include "plexus/core/value.hpp"

namespace plexus {
class Connection;
}

namespace plexus::detail {

class ShardStrategy {
 public:
  virtual ~ShardStrategy() = default;
  /// The index of the member owning `key`.
  /// @throws UsageError for a key this strategy cannot place (wrong type, outside every range, not in the directory).
  [[nodiscard]] virtual std::size_t place(const Value& key) const = 0;
  /// One line for `plexus shards` and previews: "modulo", "range (3 ranges)", …
  [[nodiscard]] virtual std::string describe() const = 0;
  /// Records key → member (directory strategies only).
  virtual void assign(const Value& key, std::size_t member);
};

/// A 64-bit hash of a key that is the same on every machine and build:
/// integers by value, text by its bytes (so 7 and "7" differ).
[[nodiscard]] std::uint64_t stable_key_hash(const Value& key);
/// Jump consistent hashing (Lamping & Veach): a bucket in [0, buckets) that
/// changes for about 1/(n+1) of the keys when a bucket is added.
[[nodiscard]] std::size_t jump_bucket(std::uint64_t hash, std::size_t buckets) noexcept;

/// Builds the strategy a group names. @throws ConfigError naming the group and
/// what is missing or wrong (a range map with gaps or overlaps, bounds of
/// mixed types, no directory connection, an unknown strategy).
[[nodiscard]] std::unique_ptr<ShardStrategy> make_shard_strategy(
    const ShardGroupConfig& g, const std::map<std::string, ShardFunction, std::less<>>& registered,
    const std::function<Connection&(std::string_view)>& connection);

}  // namespace plexus::detail

// How a read picks its replica. A Picker is one strategy; a connection's
// `load_balance` names it ("round_robin", "random", "weighted",
// "least_outstanding", or one the application registers through
// Database extensions). The router asks the picker for the replica to try
// first among those it may use, then walks on from there if that one fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace plexus {

/// What a picker may know of one replica it can choose.
struct ReplicaView {
  std::size_t index = 0;   ///< position in the connection's read_hosts
  std::string_view host;   ///< "127.0.0.1:5433"
  unsigned weight = 1;     ///< read_hosts weight
  int in_flight = 0;       ///< queries and open cursors on it from this process now
  std::optional<std::chrono::milliseconds> lag;  ///< last measured lag, if checked
};

class Picker {
 public:
  virtual ~Picker() = default;
  /// Returns the position in `candidates` (never empty; only replicas that
  /// may serve now) of the one to try first. Called concurrently: keep any
  /// state atomic or locked.
  [[nodiscard]] virtual std::size_t pick(std::span<const ReplicaView> candidates) = 0;
};

/// Makes a picker for one connection (each connection gets its own).
using PickerFactory = std::function<std::unique_ptr<Picker>()>;

/// The built-in strategies by name: round_robin, random, weighted, least_outstanding.
[[nodiscard]] const std::map<std::string, PickerFactory, std::less<>>& builtin_pickers();

/// In turn, over the candidates of each call.
class RoundRobinPicker final : public Picker {
 public:
  std::size_t pick(std::span<const ReplicaView> candidates) override;

 private:
  std::atomic<std::uint64_t> m_next{0};
};

/// Uniformly at random, from a seed (a fixed seed repeats its choices).
class RandomPicker final : public Picker {
 public:
  explicit RandomPicker(std::uint64_t seed);
  RandomPicker();  ///< seeded from std::random_device
  std::size_t pick(std::span<const ReplicaView> candidates) override;

 private:
  std::atomic<std::uint64_t> m_state;
};

/// By weight, as smooth weighted round robin: over any run of calls each
/// replica gets its share of the total weight, spread out, deterministically.
class WeightedPicker final : public Picker {
 public:
  std::size_t pick(std::span<const ReplicaView> candidates) override;

 private:
  std::mutex m_mutex;
  std::map<std::size_t, std::int64_t> m_current;  // by replica index
};

/// The replica with the fewest queries and cursors in flight (ties: the first).
class LeastOutstandingPicker final : public Picker {
 public:
  std::size_t pick(std::span<const ReplicaView> candidates) override;
};

}  // namespace plexus

// The built-in read strategies.
#include "plexus/db/picker.hpp"

#include <climits>
#include <random>

namespace plexus {

std::size_t RoundRobinPicker::pick(std::span<const ReplicaView> candidates) {
  return static_cast<std::size_t>(m_next.fetch_add(1, std::memory_order_relaxed) % candidates.size());
}

RandomPicker::RandomPicker(std::uint64_t seed) : m_state(seed) {}
RandomPicker::RandomPicker() : RandomPicker((std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

std::size_t RandomPicker::pick(std::span<const ReplicaView> candidates) {
  // splitmix64 over an atomic counter: lock-free, and repeatable from a seed.
  std::uint64_t z = m_state.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<std::size_t>(z % candidates.size());
}

std::size_t WeightedPicker::pick(std::span<const ReplicaView> candidates) {
  // Smooth weighted round robin (as nginx balances upstreams): each replica
  // gains its weight per call, the richest is picked and pays the total.
  std::lock_guard lock(m_mutex);
  std::int64_t total = 0;
  std::size_t best = 0;
  std::int64_t best_value = INT64_MIN;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto w = static_cast<std::int64_t>(candidates[i].weight);
    total += w;
    auto& current = m_current[candidates[i].index];
    current += w;
    if (current > best_value) {
      best_value = current;
      best = i;
    }
  }
  m_current[candidates[best].index] -= total;
  return best;
}

std::size_t LeastOutstandingPicker::pick(std::span<const ReplicaView> candidates) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < candidates.size(); ++i)
    if (candidates[i].in_flight < candidates[best].in_flight) best = i;
  return best;
}

const std::map<std::string, PickerFactory, std::less<>>& builtin_pickers() {
  static const std::map<std::string, PickerFactory, std::less<>> pickers = {
      {"round_robin", [] { return std::make_unique<RoundRobinPicker>(); }},
      {"random", [] { return std::make_unique<RandomPicker>(); }},
      {"weighted", [] { return std::make_unique<WeightedPicker>(); }},
      {"least_outstanding", [] { return std::make_unique<LeastOutstandingPicker>(); }},
  };
  return pickers;
}

}  // namespace plexus

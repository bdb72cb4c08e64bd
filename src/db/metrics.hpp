// The live counters behind Database::metrics() (private to src/): lock-free
// atomics that the executor, pools, router and coordinator bump as they work.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/db/events.hpp"
#include "plexus/db/metrics.hpp"

namespace plexus::detail {

/// Upper bounds of the latency buckets, in seconds (a last +Inf bucket is implied).
inline constexpr std::array<double, 14> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                          0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0};

using Counter = std::atomic<std::uint64_t>;
inline void bump(Counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
inline double read(const Counter& c) noexcept { return static_cast<double>(c.load(std::memory_order_relaxed)); }

class Histogram {
 public:
  void observe(std::chrono::nanoseconds d) noexcept;
  /// Adds `<name>_bucket` (cumulative), `<name>_sum` and `<name>_count` samples.
  void export_to(Metrics& m, MetricFamily& f, const std::vector<std::pair<std::string, std::string>>& labels) const;

 private:
  std::array<Counter, kLatencyBounds.size() + 1> m_buckets{};
  Counter m_count{0};
  Counter m_sum_ns{0};
};

inline constexpr std::size_t kErrorKinds = static_cast<std::size_t>(ErrorKind::not_found) + 1;

/// What ran on one host in one role.
struct HostMetrics {
  std::array<Counter, 2> queries{};  ///< by Intent (read, write)
  std::array<Counter, kErrorKinds> errors{};
  Histogram latency;
  void record(Intent intent, std::chrono::nanoseconds d, const Error* e) noexcept {
    bump(queries[static_cast<std::size_t>(intent)]);
    if (e) bump(errors[static_cast<std::size_t>(e->kind())]);
    latency.observe(d);
  }
};

/// Events of one connection that are not per statement.
struct ConnectionMetrics {
  Counter retries{0};    ///< transactions run again after a retryable error
};

/// Outcomes of global transactions and their recovery (one per Database).
struct CoordinatorMetrics {
  Counter committed{0}, rolled_back{0}, in_doubt{0};
  Counter recovered_commit{0}, recovered_rollback{0};
};

}  // namespace plexus::detail

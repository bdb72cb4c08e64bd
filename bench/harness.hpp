// A small benchmark harness: runs a workload, measures wall time and the
// calling thread's CPU time, and keeps results for the side-by-side table.
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace bench {

struct Result {
  std::string workload;  // W1 point select, …
  std::string engine;    // sqlite-memory, sqlite-wal, postgres, mysql
  std::string impl;      // raw, plexus-sql, plexus-builder, plexus-find, …
  std::size_t ops = 0;
  double wall_s = 0;
  double cpu_ns_per_op = 0;
  [[nodiscard]] double ops_per_s() const { return wall_s > 0 ? static_cast<double>(ops) / wall_s : 0; }
};

/// `--only TEXT`: run just the variants whose "workload/impl" contains TEXT (for profiling).
inline std::string& only() {
  static std::string filter;
  return filter;
}
inline bool wanted(const std::string& workload, const std::string& impl) {
  return only().empty() || (workload + "/" + impl).find(only()) != std::string::npos;
}

inline double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Times fn, which does `ops` operations in one go (bulk workloads).
inline Result measure_once(std::string workload, std::string engine, std::string impl, std::size_t ops,
                           const std::function<void()>& fn) {
  if (!wanted(workload, impl)) return Result{std::move(workload), std::move(engine), std::move(impl), 0, 0, 0};
  auto w0 = std::chrono::steady_clock::now();
  double c0 = thread_cpu_s();
  fn();
  double c1 = thread_cpu_s();
  auto w1 = std::chrono::steady_clock::now();
  Result r{std::move(workload), std::move(engine), std::move(impl), ops,
           std::chrono::duration<double>(w1 - w0).count(), 0};
  r.cpu_ns_per_op = (c1 - c0) * 1e9 / static_cast<double>(ops);
  return r;
}

/// Runs fn(i) for i in [0, ops) after `warmup` untimed calls.
inline Result measure(std::string workload, std::string engine, std::string impl, std::size_t ops,
                      const std::function<void(std::size_t)>& fn, std::size_t warmup = 200) {
  if (!wanted(workload, impl)) return Result{std::move(workload), std::move(engine), std::move(impl), 0, 0, 0};
  for (std::size_t i = 0; i < warmup; ++i) fn(i % ops);
  return measure_once(std::move(workload), std::move(engine), std::move(impl), ops, [&] {
    for (std::size_t i = 0; i < ops; ++i) fn(i);
  });
}

inline double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Runs fn(thread, i) for i in [0, per_thread) on `threads` threads at once;
/// CPU time is the whole process's (every thread's work).
inline Result measure_threads(std::string workload, std::string engine, std::string impl, std::size_t threads,
                              std::size_t per_thread, const std::function<void(std::size_t, std::size_t)>& fn) {
  if (!wanted(workload, impl)) return Result{std::move(workload), std::move(engine), std::move(impl), 0, 0, 0};
  auto w0 = std::chrono::steady_clock::now();
  double c0 = process_cpu_s();
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_thread; ++i) fn(t, i);
    });
  for (auto& th : pool) th.join();
  double c1 = process_cpu_s();
  auto w1 = std::chrono::steady_clock::now();
  const std::size_t ops = threads * per_thread;
  Result r{std::move(workload), std::move(engine), std::move(impl), ops,
           std::chrono::duration<double>(w1 - w0).count(), 0};
  r.cpu_ns_per_op = (c1 - c0) * 1e9 / static_cast<double>(ops);
  return r;
}

}  // namespace bench

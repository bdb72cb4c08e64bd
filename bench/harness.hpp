// A small benchmark harness: runs a workload, measures wall time and the
// calling thread's CPU time, and keeps results for the side-by-side table.
#pragma once

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
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

/// `--only TEXT`: run just the variants whose "workload/impl" contains TEXT
/// (for profiling); a TEXT ending in `$` must match the end: "W1 point select/plexus builder$".
inline std::string& only() {
  static std::string filter;
  return filter;
}
inline bool wanted(const std::string& workload, const std::string& impl) {
  if (only().empty()) return true;
  const std::string name = workload + "/" + impl;
  if (only().ends_with('$')) {
    const std::string_view text(only().data(), only().size() - 1);
    return std::string_view(name).ends_with(text);
  }
  return name.find(only()) != std::string::npos;
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

/// Times `rounds` runs of fn (each doing `ops` operations) and keeps the
/// fastest: on a shared 2-core VM a single run picks up whatever else the
/// machine did; the best of a few is the library's own cost.
inline Result measure_best(std::string workload, std::string engine, std::string impl, std::size_t ops,
                           std::size_t rounds, const std::function<void()>& fn) {
  Result best = measure_once(workload, engine, impl, ops, fn);
  for (std::size_t k = 1; k < rounds && best.ops > 0; ++k) {
    Result r = measure_once(workload, engine, impl, ops, fn);
    if (r.wall_s < best.wall_s) best.wall_s = r.wall_s;
    if (r.cpu_ns_per_op < best.cpu_ns_per_op) best.cpu_ns_per_op = r.cpu_ns_per_op;
  }
  return best;
}

/// Runs fn(i) for i in [0, ops) after `warmup` untimed calls, in 5 rounds of
/// ops/5 calls each, and reports the fastest round (scaled to `ops`).
inline Result measure(std::string workload, std::string engine, std::string impl, std::size_t ops,
                      const std::function<void(std::size_t)>& fn, std::size_t warmup = 200) {
  if (!wanted(workload, impl)) return Result{std::move(workload), std::move(engine), std::move(impl), 0, 0, 0};
  for (std::size_t i = 0; i < warmup; ++i) fn(i % ops);
  const std::size_t rounds = ops >= 5 ? 5 : 1, per_round = ops / rounds;
  std::size_t next = 0;  // every round reads the next slice, so all `ops` keys are read once
  Result r = measure_best(std::move(workload), std::move(engine), std::move(impl), per_round, rounds, [&] {
    for (std::size_t end = next + per_round; next < end; ++next) fn(next);
  });
  r.wall_s *= static_cast<double>(ops) / static_cast<double>(per_round);
  r.ops = ops;
  return r;
}

/// One variant of a workload measured by measure_group.
struct Variant {
  std::string impl;
  std::function<void(std::size_t)> fn;
};

/// Runs every variant's fn(i), i in [0, ops), interleaved: `rounds` rounds in
/// which each variant (in an order rotated every round) does the next
/// ops/rounds calls, and reports each
/// variant's median round. A slow spell of a shared machine then hits every
/// variant alike instead of whichever ran during it, and one lucky or unlucky
/// round moves nothing. `round_walls`, when given, receives each variant's
/// wall time per round (for ratios paired round by round).
inline std::vector<Result> measure_group(const std::string& workload, const std::string& engine, std::size_t ops,
                                         const std::vector<Variant>& variants, std::size_t rounds = 10,
                                         std::size_t warmup = 200,
                                         std::vector<std::vector<double>>* round_walls = nullptr) {
  std::vector<Result> out;
  std::vector<std::vector<double>> walls(variants.size()), cpus(variants.size());
  std::vector<bool> run;
  for (const auto& v : variants) {
    out.push_back(Result{workload, engine, v.impl, 0, 0, 0});
    run.push_back(wanted(workload, v.impl));
    if (run.back())
      for (std::size_t i = 0; i < warmup; ++i) v.fn(i % ops);
  }
  if (ops < rounds) rounds = 1;
  const std::size_t per_round = ops / rounds;
  for (std::size_t k = 0; k < rounds; ++k)
    for (std::size_t at = 0; at < variants.size(); ++at) {
      // Each round starts at the next variant, so none always runs right
      // after the same one (a variant that leaves the server or the
      // scheduler in some state would otherwise favour its successor).
      const std::size_t j = (k + at) % variants.size();
      if (!run[j]) continue;
      const std::size_t first = k * per_round;
      Result r = measure_once(workload, engine, variants[j].impl, per_round, [&] {
        for (std::size_t i = first; i < first + per_round; ++i) variants[j].fn(i);
      });
      walls[j].push_back(r.wall_s);
      cpus[j].push_back(r.cpu_ns_per_op);
    }
  if (round_walls) *round_walls = walls;
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  for (std::size_t j = 0; j < variants.size(); ++j) {
    if (!run[j]) continue;
    out[j].ops = ops;
    out[j].wall_s = median(walls[j]) * static_cast<double>(rounds);
    out[j].cpu_ns_per_op = median(cpus[j]);
  }
  return out;
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

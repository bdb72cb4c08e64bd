// A small bounded pool of worker threads for work that fans out over
// connections: the phases of a two-phase commit, scatter-gather reads.
// Threads start on first use (private to src/).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus::detail {

class TaskPool {
 public:
  explicit TaskPool(std::size_t threads) : m_max(threads) {}
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  /// Runs every task, the first on the calling thread and the rest on the
  /// pool (at most `threads` at once), and waits for all, running queued
  /// tasks itself meanwhile (so tasks may fan out on the same pool). Returns
  /// each task's exception (null when it succeeded), in order.
  std::vector<std::exception_ptr> run_all(const std::vector<std::function<void()>>& tasks);

 private:
  void worker();
  std::size_t m_max;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_queue;
  std::vector<std::thread> m_threads;
  bool m_stop = false;
};

}  // namespace plexus::detail

#include "db/task_pool.hpp"

#include <atomic>
#include <memory>

namespace plexus::detail {

TaskPool::~TaskPool() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  for (auto& t : m_threads) t.join();
}

void TaskPool::worker() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(m_mutex);
      m_cv.wait(lock, [&] { return m_stop || !m_queue.empty(); });
      if (m_queue.empty()) return;
      task = std::move(m_queue.front());
      m_queue.pop_front();
    }
    task();
  }
}

std::vector<std::exception_ptr> TaskPool::run_all(const std::vector<std::function<void()>>& tasks) {
  std::vector<std::exception_ptr> errors(tasks.size());
  if (tasks.empty()) return errors;
  struct Join {
    std::mutex m;
    std::condition_variable cv;
    std::size_t left;
  };
  auto join = std::make_shared<Join>();
  join->left = tasks.size() - 1;
  {
    std::lock_guard lock(m_mutex);
    for (std::size_t i = 1; i < tasks.size(); ++i) {
      m_queue.emplace_back([&tasks, &errors, join, i] {
        try {
          tasks[i]();
        } catch (...) {
          errors[i] = std::current_exception();
        }
        std::lock_guard l(join->m);
        if (--join->left == 0) join->cv.notify_all();
      });
    }
    while (m_threads.size() < m_max && m_threads.size() < m_queue.size()) m_threads.emplace_back([this] { worker(); });
  }
  m_cv.notify_all();
  try {
    tasks[0]();
  } catch (...) {
    errors[0] = std::current_exception();
  }
  // While waiting, run what is queued (ours or anyone's): a task that itself
  // fans out on this pool (a dashboard piece running a cross-database commit)
  // never waits for workers that are all busy waiting in turn.
  for (;;) {
    std::function<void()> task;
    {
      std::lock_guard lock(m_mutex);
      if (m_queue.empty()) break;
      task = std::move(m_queue.front());
      m_queue.pop_front();
    }
    task();
  }
  std::unique_lock lock(join->m);
  join->cv.wait(lock, [&] { return join->left == 0; });
  return errors;
}

}  // namespace plexus::detail

// A writer thread and four reader threads running against one connection
// while a test breaks its servers: what the fail-over tests measure.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"

namespace plexus::test {

/// An environment variable, or "" when unset.
inline std::string env_var(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

/// Runs `scripts/servers ARGS` (PLEXUS_SERVERS_SCRIPT), its output into `log`; its exit status.
inline int servers(const std::string& args, const std::string& log) {
  return std::system((env_var("PLEXUS_SERVERS_SCRIPT") + " " + args + " >" + log + " 2>&1").c_str());
}

class MixedLoad {
 public:
  /// `write(id)` inserts row `id` (ids count up from `first`); `read()` reads.
  /// `acked(id)` runs on the writer thread after each acknowledged write.
  MixedLoad(std::function<void(std::int64_t)> write, std::function<void()> read, std::int64_t first,
            std::function<void(std::int64_t)> acked = {})
      : m_write(std::move(write)), m_read(std::move(read)), m_acked(std::move(acked)) {
    m_threads.emplace_back([this, first] {
      for (std::int64_t id = first; !m_stop; ++id) {
        try {
          m_write(id);
          acknowledged.push_back(id);
          if (m_acked) m_acked(id);
        } catch (const Error&) {
          ++failed_writes;  // outcome unknown: it may or may not be there
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
    for (int r = 0; r < 4; ++r)
      m_threads.emplace_back([this] {
        while (!m_stop) {
          try {
            m_read();
            ++reads;
          } catch (const Error& e) {
            if (++failed_reads == 1) {
              std::lock_guard lock(m_mutex);
              m_first_read_error = e.what();
            }
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  }
  ~MixedLoad() { stop(); }
  MixedLoad(const MixedLoad&) = delete;
  MixedLoad& operator=(const MixedLoad&) = delete;

  /// Stops and joins every thread; the counts are final afterwards.
  void stop() {
    m_stop = true;
    for (auto& t : m_threads)
      if (t.joinable()) t.join();
  }
  /// Acknowledged ids that are not in `present`.
  [[nodiscard]] std::size_t lost(const std::set<std::int64_t>& present) const {
    std::size_t n = 0;
    for (auto id : acknowledged) n += present.contains(id) ? 0 : 1;
    return n;
  }
  [[nodiscard]] std::string figures() const {
    return std::to_string(failed_writes) + " writes and " + std::to_string(failed_reads) + " of " +
           std::to_string(reads + failed_reads) + " reads failed; " + std::to_string(acknowledged.size()) +
           " writes acknowledged" + (m_first_read_error.empty() ? "" : " (first failed read: " + m_first_read_error + ")");
  }

  std::vector<std::int64_t> acknowledged;  ///< read after stop()
  std::atomic<int> failed_writes{0}, failed_reads{0}, reads{0};

 private:
  std::function<void(std::int64_t)> m_write;
  std::function<void()> m_read;
  std::function<void(std::int64_t)> m_acked;
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::string m_first_read_error;
  std::vector<std::thread> m_threads;
};

}  // namespace plexus::test

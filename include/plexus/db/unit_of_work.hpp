// A unit of work: the scope in which read-your-writes and causal reads hold.
// Make one per request, job, queue message or task and pass it to
// conn.with(uow); it may be shared by threads of a pool.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace plexus {

enum class Consistency {
  from_config,  ///< the connection's `sticky` / `causal` settings decide
  eventual,     ///< reads may go to any replica
  sticky,       ///< after a write in this unit, reads go to the primary
  causal,       ///< after a write, reads go to a replica that has replayed it, else the primary
};

class UnitOfWork {
 public:
  explicit UnitOfWork(Consistency mode = Consistency::from_config) : m_mode(mode) {}
  UnitOfWork(const UnitOfWork&) = delete;
  UnitOfWork& operator=(const UnitOfWork&) = delete;

  [[nodiscard]] Consistency mode() const noexcept { return m_mode; }
  /// Whether this unit wrote to the named connection.
  [[nodiscard]] bool wrote(std::string_view connection) const;
  /// The primary's replication position after this unit's last write there.
  [[nodiscard]] std::optional<std::string> position(std::string_view connection) const;
  /// Called by the router after a write.
  void record_write(std::string_view connection, std::optional<std::string> position);
  /// Forgets every write (e.g. to reuse the object for the next job).
  void reset();

 private:
  struct Entry {
    std::optional<std::string> position;
  };
  Consistency m_mode;
  mutable std::mutex m_mutex;
  std::map<std::string, Entry, std::less<>> m_writes;
};

}  // namespace plexus

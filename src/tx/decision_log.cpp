#include "tx/decision_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "plexus/core/error.hpp"
#include "db/branch.hpp"
#include "tx/table_lock.hpp"

namespace plexus::detail {

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

namespace {
constexpr const char* kCreate =
    "CREATE TABLE IF NOT EXISTS plexus_tx_log (gtrid VARCHAR(64) PRIMARY KEY, participants VARCHAR(2000) NOT NULL, "
    "decided_at BIGINT NOT NULL)";
constexpr const char* kInsert = "INSERT INTO plexus_tx_log (gtrid, participants, decided_at) VALUES (?, ?, ?)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

// ---- table ---------------------------------------------------------------------

void TableLog::ensure() {
  std::call_once(m_created, [&] { m_conn.execute(kCreate); });
}

void TableLog::record(const std::string& gtrid, const std::vector<std::string>& participants) {
  ensure();
  (void)BranchAccess::run_as(m_conn, gtrid, kInsert, {gtrid, join_names(participants), now_ms()});
}

void TableLog::record_in(Transaction& tx, const std::string& gtrid, const std::vector<std::string>& participants) {
  tx.execute(kInsert, {gtrid, join_names(participants), now_ms()});
}

void TableLog::forget_all(const std::vector<std::string>& gtrids) {
  constexpr std::size_t kChunk = 200;
  try {
    for (std::size_t at = 0; at < gtrids.size(); at += kChunk) {
      const std::size_t n = std::min(kChunk, gtrids.size() - at);
      std::string sql = "DELETE FROM plexus_tx_log WHERE gtrid IN (";
      std::vector<Value> ids;
      ids.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        sql += i ? ", ?" : "?";
        ids.emplace_back(gtrids[at + i]);
      }
      sql += ")";
      // Shown in hooks with the first id of the batch.
      (void)BranchAccess::run_as(m_conn, gtrids[at], sql, ids);
    }
  } catch (const Error&) {
    // The next recovery drops them.
  }
}

Decisions TableLog::decided() {
  ensure();
  Decisions out;
  for (Row row : m_conn.on_primary().select("SELECT gtrid, participants FROM plexus_tx_log"))
    out[row[0].as<std::string>()] = split_names(row[1].as<std::string>());
  return out;
}

Decisions TableLog::decided_if_any() {
  Decisions out;
  try {
    for (Row row : m_conn.on_primary().select("SELECT gtrid, participants FROM plexus_tx_log"))
      out[row[0].as<std::string>()] = split_names(row[1].as<std::string>());
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::syntax) throw;  // syntax: no such table, so no decision
  }
  return out;
}

std::shared_ptr<void> TableLog::lock(const std::string&, std::chrono::milliseconds wait) {
  auto l = TableLock::take(m_conn, "plexus:recover", std::chrono::seconds(120), wait);
  if (!l) return nullptr;
  return std::make_shared<TableLock>(std::move(*l));
}

// ---- file ------------------------------------------------------------------------

void FileLog::append(const std::string& line, bool sync) {
  std::lock_guard lock(m_mutex);
  const bool fresh = !std::filesystem::exists(m_path);
  const int fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorKind::other, "cannot open the transaction log " + m_path + ": " + std::strerror(errno));
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = !sync || ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced)
    throw Error(ErrorKind::other, "cannot write the transaction log " + m_path + ": " + std::strerror(errno));
  if (fresh && sync) {  // the new file's name must survive a crash too
    const auto dir = std::filesystem::absolute(m_path).parent_path();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

void FileLog::record(const std::string& gtrid, const std::vector<std::string>& participants) {
  append("commit " + gtrid + " " + join_names(participants) + "\n", true);
}

void FileLog::forget_all(const std::vector<std::string>& gtrids) {
  std::string lines;
  for (const auto& g : gtrids) lines += "done " + g + "\n";
  try {
    append(lines, false);
  } catch (const Error&) {
    // The next recovery drops it.
  }
}

Decisions FileLog::decided() {
  std::lock_guard lock(m_mutex);
  return read_open();
}

Decisions FileLog::read_open() const {
  Decisions out;
  std::ifstream in(m_path);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string verb, gtrid, names;
    words >> verb >> gtrid >> names;
    if (verb == "commit") out[gtrid] = split_names(names);
    else if (verb == "done") out.erase(gtrid);
  }
  return out;
}

namespace {
struct FileLock {
  explicit FileLock(int f) noexcept : fd(f) {}
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  int fd;
  ~FileLock() {
    ::flock(fd, LOCK_UN);
    ::close(fd);
  }
};
}  // namespace

std::shared_ptr<void> FileLog::lock(const std::string&, std::chrono::milliseconds wait) {
  const std::string path = m_path + ".lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorKind::other, "cannot open " + path + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd);
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::make_shared<FileLock>(fd);
}

void FileLog::compact() {
  // Read and rewritten under one hold of the mutex: a decision appended in
  // between would be lost with the old file.
  std::lock_guard lock(m_mutex);
  const Decisions open = read_open();
  const std::string tmp = m_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [gtrid, names] : open) out << "commit " << gtrid << " " << join_names(names) << "\n";
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  std::filesystem::rename(tmp, m_path);
}

}  // namespace plexus::detail

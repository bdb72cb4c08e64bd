// Where commit decisions are made durable before the first participant
// commits (private to src/): a table on a named connection, readable by any
// process on any machine, or an fsync'd local file. Presumed abort: a global
// transaction without a record was not committed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plexus/db/connection.hpp"

namespace plexus::detail {

/// One decided commit: its participants, by connection name.
using Decisions = std::map<std::string, std::vector<std::string>>;

class DecisionLog {
 public:
  virtual ~DecisionLog() = default;
  /// Makes the commit decision of `gtrid` durable. @throws plexus::Error when it may not be.
  virtual void record(const std::string& gtrid, const std::vector<std::string>& participants) = 0;
  /// Drops decisions whose participants have all committed (best effort).
  virtual void forget_all(const std::vector<std::string>& gtrids) = 0;
  void forget(const std::string& gtrid) { forget_all({gtrid}); }
  [[nodiscard]] virtual Decisions decided() = 0;
  /// Keeps two recoverers apart while the returned object lives; null when
  /// the lock stayed taken past `wait`.
  [[nodiscard]] virtual std::shared_ptr<void> lock(const std::string& owner, std::chrono::milliseconds wait) = 0;
  /// Where it is, for messages: "table plexus_tx_log on connection 'x'", "file …".
  [[nodiscard]] virtual std::string where() const = 0;
};

/// The table plexus_tx_log on a connection.
class TableLog final : public DecisionLog {
 public:
  explicit TableLog(Connection& conn) : m_conn(conn) {}
  void record(const std::string& gtrid, const std::vector<std::string>& participants) override;
  /// Writes the record inside `tx` (the last resource's own transaction: its commit is the decision).
  void record_in(Transaction& tx, const std::string& gtrid, const std::vector<std::string>& participants);
  void forget_all(const std::vector<std::string>& gtrids) override;
  Decisions decided() override;
  /// The decisions kept here, without creating the table (a last resource
  /// that never took part has none).
  Decisions decided_if_any();
  std::shared_ptr<void> lock(const std::string& owner, std::chrono::milliseconds wait) override;
  std::string where() const override { return "table plexus_tx_log on connection '" + m_conn.name() + "'"; }
  /// Creates the table if needed.
  void ensure();

 private:
  Connection& m_conn;
  std::once_flag m_created;
};

/// An append-only file, fsync'd at each decision.
class FileLog final : public DecisionLog {
 public:
  explicit FileLog(std::string path) : m_path(std::move(path)) {}
  void record(const std::string& gtrid, const std::vector<std::string>& participants) override;
  void forget_all(const std::vector<std::string>& gtrids) override;
  Decisions decided() override;
  std::shared_ptr<void> lock(const std::string& owner, std::chrono::milliseconds wait) override;
  std::string where() const override { return "file " + m_path; }
  /// Rewrites the file with the decisions still open (call holding lock()).
  void compact();

 private:
  void append(const std::string& line, bool sync);
  /// The decisions still open in the file (call holding m_mutex).
  [[nodiscard]] Decisions read_open() const;
  std::string m_path;
  std::mutex m_mutex;
};

std::string join_names(const std::vector<std::string>& names);
std::vector<std::string> split_names(const std::string& text);

}  // namespace plexus::detail

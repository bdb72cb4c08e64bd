// Global ids for sharded tables: where a new row's key comes from when the
// application gives none (per-member auto-increment would collide across
// members). A shard group fills the column from its source before it places
// the row (ShardGroup::generate_ids).
//
//   auto ids = std::make_shared<plexus::SequenceIds>(db, "main", "orders", 1000);
//   db.shards("orders").generate_ids("orders", "id", ids);
//   auto id = db.shards("orders").table("orders").insert_get_id({{"total", 9.5}}, "id");
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace plexus {

class ConnectionRegistry;

/// Hands out ids: never the same one twice, across every process that uses
/// the same source; strictly increasing within one source object.
class IdSource {
 public:
  virtual ~IdSource() = default;
  /// The next id. @throws plexus::Error when the source cannot be reached.
  [[nodiscard]] virtual std::int64_t next() = 0;
  /// Whether consecutive ids differ in their low bits, so a modulo strategy
  /// spreads rows keyed by them over the members.
  [[nodiscard]] virtual bool spreads_by_modulo() const noexcept { return true; }
};

/// Ids reserved in blocks from a control table, as Vitess sequences do: each
/// process takes `block` ids at a time (one short transaction on the control
/// connection moves the sequence's high mark), then hands them out from
/// memory. Ids from one process are strictly increasing; ids of different
/// processes interleave by block. A block not used up when the process ends
/// leaves a gap, never a duplicate. The table (`plexus_id_blocks`) is
/// created on first use; the sequence starts at 1.
class SequenceIds final : public IdSource {
 public:
  /// `connection`: where the control table lives (any engine); `sequence`:
  /// the sequence's name in it; `block`: ids reserved per round trip (≥ 1).
  /// @throws UsageError for a block below 1 or an empty name.
  SequenceIds(ConnectionRegistry& db, std::string connection, std::string sequence, std::int64_t block = 1000);
  [[nodiscard]] std::int64_t next() override;
  /// The sequence's name in the control table.
  [[nodiscard]] const std::string& sequence() const noexcept { return m_sequence; }

 private:
  /// Reserves the next block: [m_next, m_end).
  void reserve();

  ConnectionRegistry& m_db;
  std::string m_connection;
  std::string m_sequence;
  std::int64_t m_block;
  std::mutex m_mutex;
  std::int64_t m_next = 0;
  std::int64_t m_end = 0;  // m_next == m_end: no ids left in memory
  bool m_table_checked = false;
};

/// Time-ordered 64-bit ids, as Snowflake lays them out: 41 bits of
/// milliseconds since 2025-01-01 UTC (enough until 2094), 10 bits of worker
/// id, 12 bits counting within the millisecond (4,096 ids per millisecond per
/// worker). Ids sort by creation time across processes; no round trip per id.
///
/// The worker id is leased from the control table `plexus_id_workers` on
/// `connection` (one row per worker of the source `name`, 1,024 workers):
/// claimed when the source is made, renewed when half the lease has passed,
/// handed back when the source is destroyed. A lease that cannot be renewed
/// before it runs out stops the source (next() throws) rather than risk
/// another process taking the worker id. Clocks do not need to agree: a
/// process taking over a worker id starts its clock after the previous
/// owner's lease end (the previous owner issues nothing at or past it), so
/// two owners of one worker id never issue the same millisecond. Within a
/// process ids are strictly increasing, also when the clock steps back (the
/// source keeps counting from the last millisecond it used).
class TimeIds final : public IdSource {
 public:
  /// What an id is made of.
  struct Parts {
    std::chrono::system_clock::time_point time;
    int worker = 0;
    int counter = 0;
  };
  static constexpr std::int64_t kEpochMs = 1735689600000;  ///< 2025-01-01T00:00:00Z
  static constexpr int kWorkers = 1024;

  /// Claims a worker id of `name` on `connection` for `lease` (≥ 2 s).
  /// @throws UsageError for a short lease or an empty name; ConfigError for an
  ///   unknown connection; Error when every worker id is leased or the control
  ///   table cannot be reached.
  TimeIds(ConnectionRegistry& db, std::string connection, std::string name,
          std::chrono::seconds lease = std::chrono::seconds(60));
  ~TimeIds() override;
  TimeIds(const TimeIds&) = delete;
  TimeIds& operator=(const TimeIds&) = delete;

  [[nodiscard]] std::int64_t next() override;
  /// No: the low bits count within a millisecond (mostly 0 at low rates).
  [[nodiscard]] bool spreads_by_modulo() const noexcept override { return false; }
  /// The worker id this source holds.
  [[nodiscard]] int worker() const noexcept { return m_worker; }
  /// The time, worker and counter of an id this kind of source made.
  [[nodiscard]] static Parts parts(std::int64_t id) noexcept;

 private:
  [[nodiscard]] static std::int64_t now_ms() noexcept;
  /// Takes a free (or expired) worker id: sets m_worker, m_floor_ms, m_expires_ms.
  void claim();
  /// Moves the lease's end on (or claims another worker when it was lost).
  void renew(std::int64_t now);
  [[nodiscard]] std::string table() const;

  ConnectionRegistry& m_db;
  std::string m_connection;
  std::string m_name;
  std::int64_t m_lease_ms;
  std::string m_owner;  ///< host:pid:random, written into the lease row
  std::mutex m_mutex;
  int m_worker = -1;
  std::int64_t m_expires_ms = 0;  ///< this lease's end: nothing is issued at or past it
  std::int64_t m_last_ms = 0;     ///< the millisecond of the last id
  int m_counter = 0;              ///< ids issued in m_last_ms so far
};

}  // namespace plexus

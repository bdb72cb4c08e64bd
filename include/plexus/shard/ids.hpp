// Global ids for sharded tables: where a new row's key comes from when the
// application gives none (per-member auto-increment would collide across
// members). A shard group fills the column from its source before it places
// the row (ShardGroup::generate_ids).
//
//   auto ids = std::make_shared<plexus::SequenceIds>(db, "main", "orders", 1000);
//   db.shards("orders").generate_ids("orders", "id", ids);
//   auto id = db.shards("orders").table("orders").insert_get_id({{"total", 9.5}}, "id");
#pragma once

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

}  // namespace plexus

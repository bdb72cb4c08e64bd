#include "plexus/shard/ids.hpp"

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/db/transaction.hpp"
#include "plexus/driver/grammar.hpp"

namespace plexus {

SequenceIds::SequenceIds(ConnectionRegistry& db, std::string connection, std::string sequence, std::int64_t block)
    : m_db(db), m_connection(std::move(connection)), m_sequence(std::move(sequence)), m_block(block) {
  if (m_block < 1)
    throw UsageError("sequence '" + m_sequence + "': a block of " + std::to_string(m_block) +
                     " ids; reserve at least 1 at a time");
  if (m_sequence.empty()) throw UsageError("a sequence needs a name (its row in plexus_id_blocks)");
  (void)m_db.connection(m_connection);  // an unknown connection is refused now, naming it
}

std::int64_t SequenceIds::next() {
  std::lock_guard lock(m_mutex);
  if (m_next == m_end) reserve();
  return m_next++;
}

void SequenceIds::reserve() {
  Connection& control = m_db.connection(m_connection);
  std::string q;
  control.grammar().quote(q, "plexus_id_blocks");
  if (!m_table_checked) {
    try {
      control.execute("CREATE TABLE IF NOT EXISTS " + q + " (name VARCHAR(200) PRIMARY KEY, next_id BIGINT NOT NULL)");
    } catch (const Error& e) {
      // Another process created it at the same moment (PostgreSQL reports the
      // race as a duplicate key in its catalog): the table is there.
      if (!e.is_constraint_violation()) throw;
    }
    m_table_checked = true;
  }
  // The high mark moves in one short transaction: the UPDATE takes the row's
  // lock, so two processes reserving at once get consecutive blocks.
  for (int attempt = 0;; ++attempt) {
    try {
      const std::int64_t end = control.transaction([&](Transaction& tx) -> std::int64_t {
        const Result moved = tx.execute("UPDATE " + q + " SET next_id = next_id + ? WHERE name = ?", {m_block, m_sequence});
        if (moved.affected_rows() == 0) {
          // The sequence's first block (a concurrent first insert fails the key: tried again).
          tx.execute("INSERT INTO " + q + " (name, next_id) VALUES (?, ?)", {m_sequence, 1 + m_block});
          return 1 + m_block;
        }
        const Result mark = tx.select("SELECT next_id FROM " + q + " WHERE name = ?", {m_sequence});
        if (mark.empty()) throw Error(ErrorKind::other, "sequence '" + m_sequence + "' vanished from plexus_id_blocks");
        return mark[0][0].as<std::int64_t>();
      });
      m_next = end - m_block;
      m_end = end;
      return;
    } catch (const Error& e) {
      if (attempt == 0 && (e.kind() == ErrorKind::constraint || e.is_retryable())) continue;
      throw;
    }
  }
}

}  // namespace plexus

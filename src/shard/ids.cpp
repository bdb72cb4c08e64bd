#include "plexus/shard/ids.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "plexus/core/error.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/db/transaction.hpp"
#include "plexus/driver/grammar.hpp"

namespace plexus {

namespace {

/// Runs `step` again while the control database answers with a conflict
/// (SQLite's "database is locked" when several processes make or move the
/// control table at once, a deadlock elsewhere): a short, growing wait
/// between tries, at most about two seconds in all.
template <class F>
auto conflicts_retried(F&& step) {
  for (int attempt = 1;; ++attempt) {
    try {
      return step();
    } catch (const Error& e) {
      if (!e.is_retryable() || attempt >= 40) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt, 10) * 5));
    }
  }
}

/// Creates a control table unless it exists; another process creating it at
/// the same moment is fine (PostgreSQL reports that race as a duplicate key
/// in its catalog).
void create_control_table(Connection& control, const std::string& ddl) {
  conflicts_retried([&] {
    try {
      control.execute(ddl);
    } catch (const Error& e) {
      if (!e.is_constraint_violation()) throw;
    }
    return 0;
  });
}

}  // namespace

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
    create_control_table(control, "CREATE TABLE IF NOT EXISTS " + q + " (name VARCHAR(200) PRIMARY KEY, next_id BIGINT NOT NULL)");
    m_table_checked = true;
  }
  // The high mark moves in one short transaction: the UPDATE takes the row's
  // lock, so two processes reserving at once get consecutive blocks.
  for (int attempt = 0;; ++attempt) {
    try {
      const std::int64_t end = conflicts_retried([&] { return control.transaction([&](Transaction& tx) -> std::int64_t {
        const Result moved = tx.execute("UPDATE " + q + " SET next_id = next_id + ? WHERE name = ?", {m_block, m_sequence});
        if (moved.affected_rows() == 0) {
          // The sequence's first block (a concurrent first insert fails the key: tried again).
          tx.execute("INSERT INTO " + q + " (name, next_id) VALUES (?, ?)", {m_sequence, 1 + m_block});
          return 1 + m_block;
        }
        const Result mark = tx.select("SELECT next_id FROM " + q + " WHERE name = ?", {m_sequence});
        if (mark.empty()) throw Error(ErrorKind::other, "sequence '" + m_sequence + "' vanished from plexus_id_blocks");
        return mark[0][0].as<std::int64_t>();
      }); });
      m_next = end - m_block;
      m_end = end;
      return;
    } catch (const Error& e) {
      if (attempt == 0 && e.kind() == ErrorKind::constraint) continue;  // a concurrent first INSERT of the sequence
      throw;
    }
  }
}

}  // namespace plexus

// ---- time-ordered ids -------------------------------------------------------------

namespace plexus {

namespace {

constexpr int kCounterBits = 12;
constexpr int kWorkerBits = 10;
constexpr int kCounterMax = (1 << kCounterBits) - 1;

/// Who holds a lease: the host, the process and a random part (two sources of
/// one process are two owners).
std::string lease_owner() {
  char host[64] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  std::random_device rd;
  return std::string(host).substr(0, 60) + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd());
}

}  // namespace

TimeIds::TimeIds(ConnectionRegistry& db, std::string connection, std::string name, std::chrono::seconds lease)
    : m_db(db), m_connection(std::move(connection)), m_name(std::move(name)), m_lease_ms(lease.count() * 1000),
      m_owner(lease_owner()) {
  if (lease < std::chrono::seconds(2))
    throw UsageError("time ids '" + m_name + "': a lease of " + std::to_string(lease.count()) +
                     " s; lease worker ids for at least 2 s (60 s is the default)");
  if (m_name.empty()) throw UsageError("time ids need a name (their rows in plexus_id_workers)");
  Connection& control = m_db.connection(m_connection);  // an unknown connection is refused now, naming it
  create_control_table(control, "CREATE TABLE IF NOT EXISTS " + table() +
                                     " (name VARCHAR(200) NOT NULL, worker INT NOT NULL, owner VARCHAR(100) NOT NULL,"
                                     " expires_ms BIGINT NOT NULL, PRIMARY KEY (name, worker))");
  conflicts_retried([&] {
    claim();
    return 0;
  });
}

TimeIds::~TimeIds() {
  // Hands the worker id back: the next owner starts after the last
  // millisecond used here (its floor is the row's end + 1).
  try {
    m_db.connection(m_connection)
        .execute("UPDATE " + table() + " SET expires_ms = ? WHERE name = ? AND worker = ? AND owner = ?",
                 {std::max(m_last_ms, std::int64_t(0)), m_name, m_worker, m_owner});
  } catch (...) {
    // The lease runs out by itself.
  }
}

std::string TimeIds::table() const {
  std::string q;
  m_db.connection(m_connection).grammar().quote(q, "plexus_id_workers");
  return q;
}

std::int64_t TimeIds::now_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void TimeIds::claim() {
  Connection& control = m_db.connection(m_connection);
  const std::string t = table();
  for (int attempt = 0; attempt < 50; ++attempt) {
    const std::int64_t now = now_ms();
    // Asked of the primary (a replica's copy may lag behind a lease).
    const Result rows = control.query("SELECT worker, owner, expires_ms FROM " + t + " WHERE name = ? ORDER BY worker",
                                      {m_name}, Intent::write);
    std::vector<bool> used(kWorkers, false);
    std::optional<std::int64_t> floor;
    int worker = -1;
    for (Row r : rows) {
      const int w = r[0].as<int>();
      if (w >= 0 && w < kWorkers) used[static_cast<std::size_t>(w)] = true;
      const std::int64_t ends = r[2].as<std::int64_t>();
      if (ends >= now || worker >= 0) continue;
      // An ended lease: taken only if nobody renewed or took it meanwhile.
      const Result took = control.execute(
          "UPDATE " + t + " SET owner = ?, expires_ms = ? WHERE name = ? AND worker = ? AND owner = ? AND expires_ms = ?",
          {m_owner, now + m_lease_ms, m_name, w, r[1].as<std::string>(), ends});
      if (took.affected_rows() == 1) {
        worker = w;
        floor = ends + 1;  // the previous owner issued nothing at or past its lease's end
      }
    }
    if (worker < 0) {
      int fresh = 0;
      while (fresh < kWorkers && used[static_cast<std::size_t>(fresh)]) ++fresh;
      if (fresh == kWorkers)
        throw Error(ErrorKind::other, "time ids '" + m_name + "': all " + std::to_string(kWorkers) +
                                          " worker ids are leased by running processes; wait for a lease to end, "
                                          "or give this id space another name");
      try {
        control.execute("INSERT INTO " + t + " (name, worker, owner, expires_ms) VALUES (?, ?, ?, ?)",
                        {m_name, fresh, m_owner, now + m_lease_ms});
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::constraint) continue;  // another process took that number first
        throw;
      }
      worker = fresh;
      floor = 0;
    }
    // Strictly after every id issued here before (a lost lease's ids) and
    // after everything the worker id's previous owner issued.
    const std::int64_t start = std::max(m_last_ms + 1, *floor);
    m_worker = worker;
    m_expires_ms = now + m_lease_ms;
    m_last_ms = start - 1;
    m_counter = kCounterMax;  // the next id moves to `start`
    return;
  }
  throw Error(ErrorKind::other, "time ids '" + m_name + "': could not claim a worker id after 50 tries "
                                "(other processes took each free one first)");
}

void TimeIds::renew(std::int64_t now) {
  Connection& control = m_db.connection(m_connection);
  try {
    const Result moved =
        control.execute("UPDATE " + table() + " SET expires_ms = ? WHERE name = ? AND worker = ? AND owner = ?",
                        {now + m_lease_ms, m_name, m_worker, m_owner});
    if (moved.affected_rows() == 1) {
      m_expires_ms = now + m_lease_ms;
      return;
    }
  } catch (const Error& e) {
    if (now < m_expires_ms) return;  // still ours: tried again at the next id
    throw Error(e.kind(), "time ids '" + m_name + "': the lease of worker " + std::to_string(m_worker) +
                              " ended and could not be renewed, so no id was issued: " + e.message());
  }
  claim();  // the lease ended and another process took the worker id
}

std::int64_t TimeIds::next() {
  std::lock_guard lock(m_mutex);
  const std::int64_t now = now_ms();
  if (now >= m_expires_ms - m_lease_ms / 2) renew(now);
  std::int64_t ms = std::max(now, m_last_ms);
  if (ms == m_last_ms) {
    if (m_counter == kCounterMax) {
      ++ms;  // this millisecond is used up: borrow the next (the clock catches up)
      m_counter = 0;
    } else {
      ++m_counter;
    }
  } else {
    m_counter = 0;
  }
  if (ms >= m_expires_ms)
    throw Error(ErrorKind::other, "time ids '" + m_name + "': issuing faster than 4,096 ids per millisecond ran past " +
                                      "the worker's lease; no id was issued");
  m_last_ms = ms;
  return ((ms - kEpochMs) << (kWorkerBits + kCounterBits)) | (std::int64_t(m_worker) << kCounterBits) | m_counter;
}

TimeIds::Parts TimeIds::parts(std::int64_t id) noexcept {
  Parts p;
  p.time = std::chrono::system_clock::time_point(std::chrono::milliseconds((id >> (kWorkerBits + kCounterBits)) + kEpochMs));
  p.worker = static_cast<int>((id >> kCounterBits) & ((1 << kWorkerBits) - 1));
  p.counter = static_cast<int>(id & kCounterMax);
  return p;
}

}  // namespace plexus

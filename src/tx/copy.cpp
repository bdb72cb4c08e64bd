// Copying and moving rows between connections, in batches.
#include "plexus/tx/copy.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "plexus/db/registry.hpp"
#include "tx/coordinator.hpp"
#include "tx/identity.hpp"
#include "plexus/query/builder.hpp"
#include "plexus/tx/global_transaction.hpp"

namespace plexus {
namespace {

using Clock = std::chrono::steady_clock;

/// A value as text that is the same on every engine for the same value
/// (a boolean and the integers 0/1 alike, timestamps to the microsecond).
void canonical(const Value& v, std::string& out) {
  switch (v.type()) {
    case Value::Type::null: out += "\x01N"; break;
    case Value::Type::boolean: out += v.raw_bool() ? "1" : "0"; break;
    case Value::Type::real: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", v.raw_real());
      out += buf;
      break;
    }
    default: out += v.to_string();
  }
  out += '\x1f';
}

/// An order-independent checksum: the sum of every row's FNV-1a hash.
struct Checksum {
  std::uint64_t sum = 0;
  void add(Row row) {
    std::string text;
    for (std::size_t i = 0; i < row.size(); ++i) canonical(row[i], text);
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
    sum += h;
  }
  [[nodiscard]] std::string hex() const {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(sum));
    return buf;
  }
};

struct Plan {
  std::string sql;
  std::string into;
};

Plan plan(const CopySpec& spec, bool move) {
  if (spec.from.empty() || spec.to.empty()) throw UsageError("a copy needs a source (from) and a target (to) connection");
  if (spec.table.empty() && spec.query.empty())
    throw UsageError("a copy reads a whole table (table) or a query (query)");
  if (move && spec.table.empty())
    throw UsageError("a move needs the source table (table) its rows are deleted from; a query may narrow them");
  if (spec.batch == 0) throw UsageError("a copy's batch must be at least one row");
  Plan p;
  p.into = spec.into.empty() ? spec.table : spec.into;
  if (p.into.empty()) throw UsageError("a copy from a query needs the target table (into)");
  if (!spec.table.empty()) check_name(spec.table);
  check_name(p.into);
  const bool needs_key = move || spec.verify || spec.on_conflict != OnConflict::fail;
  if (needs_key && spec.key.empty())
    throw UsageError(std::string("a ") + (move ? "move" : "copy that updates, skips or verifies") +
                     " needs the key columns (key) that identify a row");
  for (const auto& k : spec.key) check_name(k);
  return p;
}

/// The rows of `keys` at `into` on `q` (for verification and the move's delete).
void where_keys(QueryBuilder& q, const std::vector<std::string>& key, const std::vector<std::vector<Value>>& keys) {
  if (key.size() == 1) {
    std::vector<Value> values;
    values.reserve(keys.size());
    for (const auto& k : keys) values.push_back(k[0]);
    q.where_in(key[0], std::move(values));
    return;
  }
  q.where([&](QueryBuilder& any) {
    for (const auto& k : keys)
      any.or_where([&](QueryBuilder& one) {
        for (std::size_t i = 0; i < key.size(); ++i) one.where(key[i], k[i]);
      });
  });
}

}  // namespace

std::string detail::database_identity(Connection& conn) {
  const std::string_view sql = conn.grammar().database_identity_sql();
  if (sql.empty()) return {};
  try {
    const Value v = conn.on_primary().scalar(std::string(sql));
    return v.is_null() ? std::string() : v.as<std::string>();
  } catch (const Error& e) {
    if (e.is_connection_error()) throw;
    return {};  // not allowed to ask: unknown
  }
}

namespace {
using detail::database_identity;

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// A copy or move onto the table it reads from would read its own writes
/// and a move would delete what it wrote: refused before anything runs,
/// also when two connection names reach one database.
void refuse_onto_itself(const CopySpec& spec, const Plan& p, Connection& source, Connection& target, bool move) {
  if (spec.table.empty() || !same_name(spec.table, p.into)) return;
  std::string why;
  if (spec.from == spec.to) {
    why = "connection '" + spec.from + "'";
  } else {
    const std::string a = database_identity(source);
    if (a.empty() || a != database_identity(target)) return;
    why = "connections '" + spec.from + "' and '" + spec.to + "', which reach one database";
  }
  throw UsageError(std::string("a ") + (move ? "move" : "copy") + " from table '" + spec.table + "' into table '" +
                   p.into + "' on " + why + " is a " + (move ? "move" : "copy") +
                   " of a table onto itself (it would " + (move ? "delete every row it wrote" : "read its own writes") +
                   "); nothing was run: name another target table (into) or connection (to)");
}

CopySummary run(ConnectionRegistry& db, const CopySpec& spec, bool move) {
  const auto started = Clock::now();
  Plan p = plan(spec, move);
  Connection& source = db.connection(spec.from);
  Connection& target = db.connection(spec.to);
  refuse_onto_itself(spec, p, source, target, move);
  // A move stopped after a batch's decision left that batch's branches
  // prepared (its rows locked at both ends): this coordinator's recovery of
  // the two connections completes them first, so that running the move again
  // finishes it. Best effort: when recovery itself cannot run (its log not
  // writable here), the move goes on as it would have without it.
  if (move) {
    RecoverOptions only_these;
    only_these.connections = {spec.from, spec.to};
    try {
      (void)db.coordinator().recover(db, only_these);
    } catch (const Error& e) {
      if (e.is_connection_error()) throw;  // an end that does not answer cannot take a move either
    }
  }
  p.sql = spec.query.empty() ? QueryBuilder(spec.table).to_sql(source.grammar()).sql : spec.query;
  CopySummary out;
  Checksum source_sum, target_sum;
  // Read from the primary: a replica may not have the latest rows yet.
  auto source_primary = source.on_primary();
  auto target_primary = target.on_primary();
  Cursor rows = source_primary.cursor(p.sql, spec.params);
  std::vector<std::string> names;
  std::vector<std::size_t> key_at;
  std::vector<Fields> batch;
  std::vector<std::vector<Value>> keys;
  batch.reserve(spec.batch);

  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<std::string> update;
    for (const auto& n : names)
      if (std::find(spec.key.begin(), spec.key.end(), n) == spec.key.end()) update.push_back(n);
    auto write = [&](Queryable& q) -> std::uint64_t {
      auto t = q.table(p.into);
      switch (spec.on_conflict) {
        case OnConflict::fail: return t.insert_many(batch);
        case OnConflict::update: (void)t.upsert(batch, spec.key, update); return batch.size();
        case OnConflict::skip: return t.upsert(batch, spec.key, {});
      }
      return 0;
    };
    std::uint64_t written = 0;
    if (move) {
      // One atomic step per batch: written there, deleted here, or neither.
      std::vector<std::string> parts{spec.to};
      if (spec.from != spec.to) parts.push_back(spec.from);
      std::vector<std::string_view> members(parts.begin(), parts.end());
      auto g = db.coordinator().begin(db, members, TransactionOptions{});
      {
        written = write(g[spec.to]);
        auto del = g[spec.from].table(spec.table);
        where_keys(del, spec.key, keys);
        const auto deleted = del.remove();
        if (deleted != batch.size())
          throw UsageError("moving a batch of " + std::to_string(batch.size()) + " rows deleted " +
                           std::to_string(deleted) + " at the source (did the source change under the move?); the "
                           "batch was rolled back on both sides");
        out.rows_deleted += deleted;
      }
      g.commit();
    } else {
      written = write(target);
    }
    // MySQL counts an upserted row as 2: the batch is what was written.
    written = std::min<std::uint64_t>(written, batch.size());
    out.rows_written += spec.on_conflict == OnConflict::skip ? written : batch.size();
    if (spec.on_conflict == OnConflict::skip) out.rows_skipped += batch.size() - written;
    if (spec.verify) {
      auto back = target_primary.table(p.into);
      std::vector<Expr> cols(names.begin(), names.end());
      back.select(std::move(cols));
      where_keys(back, spec.key, keys);
      for (Row row : back.get()) {
        target_sum.add(row);
        ++out.target_rows;
      }
    }
    ++out.batches;
    batch.clear();
    keys.clear();
    if (spec.progress) spec.progress({out.rows_read, out.rows_written, out.rows_skipped, out.batches});
  };

  for (Row row : rows) {
    if (names.empty()) {
      for (std::size_t i = 0; i < row.columns().size(); ++i) names.push_back(row.columns()[i]);
      for (const auto& k : spec.key) {
        auto at = row.columns().find(k);
        if (!at) throw UsageError("key column '" + k + "' is not among the columns the copy reads");
        key_at.push_back(*at);
      }
    }
    ++out.rows_read;
    if (spec.verify) source_sum.add(row);
    Fields f;
    f.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) f.emplace_back(names[i], row[i]);
    batch.push_back(std::move(f));
    if (!key_at.empty()) {
      auto& k = keys.emplace_back();
      for (auto at : key_at) k.push_back(row[at]);
    }
    if (batch.size() >= spec.batch) flush();
  }
  flush();
  if (spec.verify) {
    out.verified = true;
    out.source_checksum = source_sum.hex();
    out.target_checksum = target_sum.hex();
  }
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return out;
}

}  // namespace

CopySummary copy_rows(ConnectionRegistry& db, const CopySpec& spec) { return run(db, spec, false); }
CopySummary move_rows(ConnectionRegistry& db, const CopySpec& spec) { return run(db, spec, true); }

}  // namespace plexus

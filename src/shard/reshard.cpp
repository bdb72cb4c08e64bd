#include "plexus/driver/engine.hpp"
#include "plexus/shard/reshard.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "plexus/core/error.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/shard/shard_group.hpp"
#include "plexus/tx/copy.hpp"
#include "shard/reshard_checks.hpp"

namespace plexus {
namespace {

struct Layouts {
  ShardGroup& from;
  ShardGroup& to;
};

Layouts layouts(ConnectionRegistry& db, std::string_view from_group, std::string_view to_group) {
  ShardGroup& from = db.shards(from_group);
  ShardGroup& to = db.shards(to_group);
  if (from.key().empty() || from.key() != to.key())
    throw UsageError("resharding '" + from.name() + "' into '" + to.name() + "': both groups must route by the same key "
                     "column (they have '" + from.key() + "' and '" + to.key() + "')");
  for (const ShardGroup* g : {&from, &to})
    if (g->strategy().starts_with("directory"))
      throw UsageError("resharding group '" + g->name() + "': a directory places keys where it is told; move rows with "
                       "move_rows and record each key with assign()");
  return {from, to};
}

/// Keys on member `m` of the current layout that the target places on another
/// connection, by that connection (with their row counts).
std::map<std::string, std::vector<std::pair<Value, std::uint64_t>>> moving_from(Layouts& l, std::size_t m,
                                                                                  std::string_view table,
                                                                                  std::uint64_t* rows_total) {
  Connection& member = l.from.member(m);
  std::map<std::string, std::vector<std::pair<Value, std::uint64_t>>> out;
  const auto counts = member.table(table)
                          .select({Expr(l.from.key()), Expr(raw("COUNT(*)"))})
                          .group_by({l.from.key()})
                          .get();
  for (Row row : counts) {
    const auto n = row[1].as<std::uint64_t>();
    if (rows_total) *rows_total += n;
    if (row[0].is_null())
      throw UsageError("resharding '" + std::string(table) + "' on '" + member.name() + "': rows with a NULL " +
                       l.from.key() + " have no owner in any layout; fix them first");
    const std::string& owner = l.to.member_names()[l.to.index_of(row[0])];
    if (owner != member.name()) out[owner].emplace_back(row[0], n);
  }
  return out;
}

/// The migrations applied on `c` ("version name checksum" each, in order),
/// read from the ledger the migrator keeps there (plexus_migrations, see
/// docs/migrations.md); nullopt when it has none.
std::optional<std::vector<std::string>> applied_migrations(Connection& c) {
  Result rows;
  try {
    rows = c.on_primary().table("plexus_migrations").select({"version", "name", "checksum"}).order_by("version").get();
  } catch (const Error& e) {
    if (!e.is_syntax()) throw;  // no such table: this member's schema is not managed by migrations
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (Row r : rows) out.push_back(r[0].to_string() + " " + r[1].to_string() + " " + r[2].to_string());
  return out;
}

}  // namespace

void detail::refuse_differing_migrations(ConnectionRegistry& db, ShardGroup& from, ShardGroup& to, std::string_view table) {
  Layouts l{from, to};
  std::vector<std::string> names = l.from.member_names();
  for (const auto& n : l.to.member_names())
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  std::optional<std::vector<std::string>> first;
  std::string first_name;
  if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return !db.connection(n).config().migrations.empty(); }))
    return;  // schemas not managed by migrations: nothing to compare
  auto describe = [](const std::optional<std::vector<std::string>>& m) {
    if (!m) return std::string("no migrations ledger");
    return std::to_string(m->size()) + " migration(s)" + (m->empty() ? std::string() : ", the last " + m->back());
  };
  for (const auto& n : names) {
    auto mine = applied_migrations(db.connection(n));
    if (first_name.empty()) {
      first = std::move(mine);
      first_name = n;
      continue;
    }
    if (mine != first)
      throw UsageError("resharding '" + std::string(table) + "' from '" + l.from.name() + "' to '" + l.to.name() +
                       "': the members' schemas differ (" + first_name + ": " + describe(first) + "; " + n + ": " +
                       describe(mine) + "), so rows copied between them could be refused or lose columns; nothing "
                       "was moved. Run the migrations on every member of both groups first (plexus migrate, or "
                       "Migrator::migrate_all over their connections)");
  }
}

ReshardPlan plan_reshard(ConnectionRegistry& db, std::string_view from_group, std::string_view to_group, std::string_view table) {
  Layouts l = layouts(db, from_group, to_group);
  ReshardPlan plan{l.from.name(), l.to.name(), std::string(table), l.from.key(), 0, 0, {}};
  for (std::size_t m = 0; m < l.from.size(); ++m) {
    for (auto& [to, keys] : moving_from(l, m, table, &plan.rows_total)) {
      ReshardStep step{l.from.member_names()[m], to, keys.size(), 0};
      for (const auto& [k, n] : keys) step.rows += n;
      plan.rows_moving += step.rows;
      plan.steps.push_back(std::move(step));
    }
  }
  return plan;
}

ReshardReport reshard(ConnectionRegistry& db, std::string_view from_group, std::string_view to_group, std::string_view table,
                      const ReshardOptions& opts) {
  ReshardReport report;
  Layouts l = layouts(db, from_group, to_group);
  detail::refuse_differing_migrations(db, l.from, l.to, table);
  report.plan = plan_reshard(db, from_group, to_group, table);
  // Each step is a move in two-phase commits, which takes at most one
  // participant that cannot prepare (SQLite): a step between two such
  // members is refused here, before any step moves a row.
  const auto prepares = [&](const std::string& name) {
    return db.engines().get(db.connection(name).type()).capabilities().two_phase_commit;
  };
  for (const auto& step : report.plan.steps)
    if (!prepares(step.from) && !prepares(step.to))
      throw UsageError("resharding '" + std::string(table) + "' from '" + l.from.name() + "' to '" + l.to.name() +
                       "': the step " + step.from + " -> " + step.to + " (" + std::to_string(step.rows) +
                       " rows) is between two members that cannot prepare a transaction (" +
                       db.connection(step.from).type() + ", " + db.connection(step.to).type() +
                       "), so it cannot move rows atomically; nothing was moved. Move those rows through a member "
                       "that can prepare (PostgreSQL, MariaDB), or by hand");
  const std::vector<std::string> row_key = opts.row_key.empty() ? std::vector<std::string>{l.from.key()} : opts.row_key;
  constexpr std::size_t kKeysPerQuery = 500;  // keys named in one SELECT … WHERE key IN (…)
  for (std::size_t m = 0; m < l.from.size(); ++m) {
    Connection& source = l.from.member(m);
    for (auto& [to, keys] : moving_from(l, m, table, nullptr)) {
      for (std::size_t at = 0; at < keys.size(); at += kKeysPerQuery) {
        std::vector<Value> chunk;
        for (std::size_t i = at; i < std::min(keys.size(), at + kKeysPerQuery); ++i) chunk.push_back(keys[i].first);
        const Query q = source.table(table).where_in(l.from.key(), chunk).to_sql(source.grammar());
        CopySpec spec;
        spec.from = source.name();
        spec.table = std::string(table);  // rows are deleted from it …
        spec.query = q.sql;               // … narrowed to the moving keys
        spec.params = q.bindings;
        spec.to = to;
        spec.into = std::string(table);
        spec.key = row_key;
        spec.batch = opts.batch;
        const std::uint64_t before = report.rows_moved;
        if (opts.progress)
          spec.progress = [&, before, from = source.name(), to_name = to](const CopyProgress& p) {
            opts.progress({from, to_name, before + p.written, report.plan.rows_moving});
          };
        report.rows_moved += move_rows(db, spec).rows_deleted;
      }
    }
  }
  return report;
}

std::string ReshardPlan::to_string() const {
  std::string s = "reshard " + table + " from " + from_group + " to " + to_group + " (key " + key + "): " +
                  std::to_string(rows_moving) + " of " + std::to_string(rows_total) + " rows move";
  if (rows_total) {
    char pct[32];
    std::snprintf(pct, sizeof pct, " (%.1f %%)", 100.0 * static_cast<double>(rows_moving) / static_cast<double>(rows_total));
    s += pct;
  }
  s += "\n";
  for (const auto& st : steps)
    s += "  " + st.from + " -> " + st.to + ": " + std::to_string(st.rows) + " rows, " + std::to_string(st.keys) + " keys\n";
  return s;
}

std::string ReshardPlan::to_json() const {
  nlohmann::json j{{"from_group", from_group}, {"to_group", to_group}, {"table", table}, {"key", key},
                   {"rows_total", rows_total}, {"rows_moving", rows_moving}, {"steps", nlohmann::json::array()}};
  for (const auto& st : steps) j["steps"].push_back({{"from", st.from}, {"to", st.to}, {"keys", st.keys}, {"rows", st.rows}});
  return j.dump(2);
}

}  // namespace plexus

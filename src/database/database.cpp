// The Database facade: a ConnectionRegistry plus what is built above db/ over
// its connections (the shard groups, the coordinator), the facade's own
// calls (global transactions, recovery) and the metrics of all of it.
#include "plexus/database.hpp"

#include <map>
#include <memory>

#include "shard/groups.hpp"
#include "db/metrics.hpp"
#include "tx/coordinator.hpp"
#include "plexus/core/error.hpp"
#include "plexus/shard/ids.hpp"

namespace plexus {

Database::Database(DatabaseConfig cfg, Extensions ext) : ConnectionRegistry(std::move(cfg), ext) {
  // The groups by name, for a group that follows another's layout (an online
  // reshard): shared by them, so that it outlives a move of this Database.
  auto directory = std::make_shared<std::map<std::string, ShardGroup*, std::less<>>>();
  for (const auto& g : config().shard_groups) {
    auto group = detail::make_shard_group(
        g, [&](std::string_view n) -> Connection& { return connection(n); }, ext.shard_strategies,
        [this](std::span<const std::string> names) { return begin_global(names); },
        [directory](std::string_view n) -> ShardGroup& {
          auto it = directory->find(n);
          if (it == directory->end()) throw ConfigError("unknown shard group '" + std::string(n) + "'");
          return *it->second;
        });
    (*directory)[g.name] = group.get();
    add_shard_group(g.name, *group, *group);
    for (const auto& ids : g.ids) {
      try {
        const std::string& name = ids.sequence.empty() ? ids.table : ids.sequence;
        std::shared_ptr<IdSource> source;
        if (ids.kind == "time")
          source = std::make_shared<TimeIds>(*this, ids.connection, name, std::chrono::seconds(ids.lease_s));
        else if (ids.kind == "sequence")
          source = std::make_shared<SequenceIds>(*this, ids.connection, name, ids.block);
        else
          throw UsageError("unknown id source kind '" + ids.kind + "' (expected \"sequence\" or \"time\")");
        group->generate_ids(ids.table, ids.column, std::move(source));
      } catch (const Error& e) {
        throw ConfigError("shards." + g.name + ".ids." + ids.table + ": " + e.message());
      }
    }
    m_groups.emplace(g.name, std::move(group));
  }
  m_coordinator = std::make_unique<detail::Coordinator>(config().transactions, executor());
  set_coordinator(*m_coordinator);
  if (config().transactions.recover_on_start) {
    try {
      (void)recover();
    } catch (const Error&) {
      // A server down at start: its branches wait for the next recover().
    }
  }
}

Database Database::from_file(const std::filesystem::path& path, Extensions ext) {
  Env env = Env::system();
  env.load_dotenv(".env");
  return from_file(path, env, std::move(ext));
}

Database Database::from_file(const std::filesystem::path& path, const Env& env, Extensions ext) {
  return Database(DatabaseConfig::from_toml_file(path, env), std::move(ext));
}

Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&& o) noexcept {
  if (this == &o) return *this;
  // What is built over the connections goes first: the groups hold the
  // connections, the coordinator the registry's executor.
  m_groups.clear();
  m_coordinator.reset();
  ConnectionRegistry::operator=(std::move(o));
  m_coordinator = std::move(o.m_coordinator);
  m_groups = std::move(o.m_groups);
  return *this;
}
Database::~Database() = default;

GlobalTransaction Database::begin_global(std::initializer_list<std::string_view> connections, const TransactionOptions& opts) {
  return m_coordinator->begin(*this, std::span<const std::string_view>(connections.begin(), connections.size()), opts);
}

GlobalTransaction Database::begin_global(std::span<const std::string> connections, const TransactionOptions& opts) {
  std::vector<std::string_view> names(connections.begin(), connections.end());
  return m_coordinator->begin(*this, names, opts);
}

RecoveryReport Database::recover(const RecoverOptions& opts) { return m_coordinator->recover(*this, opts); }
RecoveryReport Database::recover() { return recover(RecoverOptions{}); }

PendingReport Database::pending_transactions() { return m_coordinator->pending(*this); }

const std::string& Database::coordinator_id() const { return m_coordinator->id(); }

Metrics Database::metrics() const {
  Metrics m;
  collect_connection_metrics(m);
  const auto& cm = m_coordinator->metrics;
  auto& g = m.family("plexus_global_transactions_total", "counter", "Transactions across connections, by outcome");
  m.add(g, {{"outcome", "committed"}}, detail::read(cm.committed));
  m.add(g, {{"outcome", "rolled_back"}}, detail::read(cm.rolled_back));
  m.add(g, {{"outcome", "in_doubt"}}, detail::read(cm.in_doubt));
  auto& r = m.family("plexus_recovered_branches_total", "counter", "Prepared branches recover() completed, by action");
  m.add(r, {{"action", "committed"}}, detail::read(cm.recovered_commit));
  m.add(r, {{"action", "rolled_back"}}, detail::read(cm.recovered_rollback));
  for (const auto& [name, group] : m_groups) group->collect_metrics(m);
  return m;
}

}  // namespace plexus

// Database: the composition root. It owns the named connections (its
// ConnectionRegistry base, in db/), the shard groups built over them (shard/),
// the coordinator of cross-database transactions (tx/), and ties the
// builder, the models and the metrics to them. Nothing below it includes it:
// the layers under it take the ConnectionRegistry. No globals.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "plexus/db/registry.hpp"
#include "plexus/orm/model.hpp"
#include "plexus/query/builder.hpp"
#include "plexus/shard/shard_group.hpp"
#include "plexus/tx/global_transaction.hpp"

namespace plexus {

struct RecoveryReport;
struct RecoverOptions;
struct PendingReport;

class Database : public ConnectionRegistry {
 public:
  /// Validates the configuration (engine names, engine options and their
  /// types, strategies, required fields) and creates every Connection and
  /// shard group; no session is opened until first use. @throws ConfigError
  /// naming the connection (and the file and key when it came from a file).
  explicit Database(DatabaseConfig cfg, Extensions ext = {});
  /// Loads a TOML file (and a `.env` beside the working directory, if any).
  /// @throws ConfigError naming the file, the key and the problem.
  static Database from_file(const std::filesystem::path& path, Extensions ext = {});
  static Database from_file(const std::filesystem::path& path, const Env& env, Extensions ext = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  /// A query builder on `table` of the named connection: the seed's
  /// `query('users', 'users_db')` / `QueryBuilder.create('users', db)`.
  /// @throws ConfigError for an unknown connection, UsageError for a bad table name.
  [[nodiscard]] QueryBuilder table(std::string_view table, std::string_view connection_name) {
    return connection(connection_name).table(table);
  }

  /// A typed model bound to the connection its schema declares (or the
  /// default connection). @throws ConfigError when that connection is not configured.
  template <class T>
  [[nodiscard]] Model<T> model() {
    constexpr std::string_view declared = T::schema.connection_name();
    if (!declared.empty()) return Model<T>(*this, std::string(declared));
    return Model<T>(*this, config().default_connection);  // may be empty: bind() it
  }

  /// Runs `fn` with one transaction per named connection and commits them
  /// all or none (two-phase commit; see plexus/tx/global_transaction.hpp and
  /// docs/transactions.md): `db.transaction({"users_db", "orders_db"}, fn)`.
  /// Returns what `fn` returns.
  template <class F>
  auto transaction(std::initializer_list<std::string_view> connections, F&& fn, const TransactionOptions& opts = {})
      -> std::invoke_result_t<F, GlobalTransaction&> {
    for (unsigned attempt = 1;; ++attempt) {
      GlobalTransaction g = begin_global(connections, opts);
      try {
        if constexpr (std::is_void_v<std::invoke_result_t<F, GlobalTransaction&>>) {
          fn(g);
          g.commit();
          return;
        } else {
          auto result = fn(g);
          g.commit();
          return result;
        }
      } catch (const InDoubtError&) {
        throw;  // decided: never run again
      } catch (const Error& e) {
        if (!detail::may_retry(e, false, attempt, opts.retry)) throw;
      }  // the attempt rolls back here
    }
  }
  /// Begins a global transaction to drive by hand (commit() / rollback()).
  [[nodiscard]] GlobalTransaction begin_global(std::initializer_list<std::string_view> connections,
                                        const TransactionOptions& opts = {});
  [[nodiscard]] GlobalTransaction begin_global(std::span<const std::string> connections, const TransactionOptions& opts = {});
  /// Resolves every prepared branch this coordinator left (commit where the
  /// decision log says so, else roll back), under a lock that keeps two
  /// recoverers apart. Returns what it did, per participant.
  RecoveryReport recover(const RecoverOptions& opts);
  RecoveryReport recover();
  /// The prepared branches waiting on every connection that can prepare
  /// (whichever coordinator began them), and the connections that could not
  /// be looked at.
  [[nodiscard]] PendingReport pending_transactions();
  /// This instance's coordinator id (transactions.coordinator, else the host name).
  [[nodiscard]] const std::string& coordinator_id() const;

  /// A snapshot of every counter, gauge and latency histogram, per
  /// connection, host, role and shard group (docs/metrics.md); to_prometheus()
  /// on it gives the text a Prometheus server scrapes. Cheap: no round trip.
  [[nodiscard]] Metrics metrics() const;

 private:
  std::unique_ptr<detail::Coordinator> m_coordinator;
  std::map<std::string, std::unique_ptr<ShardGroup>, std::less<>> m_groups;
};

}  // namespace plexus

// Shard groups: connections that each hold part of the rows, a strategy that
// maps a key to its member, keyed routing, and scatter-gather reads whose
// merged answer is exact or refused (docs/sharding.md).
//
//   auto& users = db.shards("users_shards");
//   users.table("users").insert({{"id", 42}, {"name", "Ada"}});   // on the member owning 42
//   auto ada = users.table("users").where("id", 42).first();       // one member, the SQL as given
//   auto top = users.table("orders").order_by_desc("total").limit(10).get();  // every member, merged
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/config/config.hpp"
#include "plexus/db/connection.hpp"
#include "plexus/db/metrics.hpp"
#include "plexus/query/builder.hpp"

namespace plexus {

struct ColumnText;
class IdSource;

namespace detail {
class ShardStrategy;
class TaskPool;
struct OwnLayout;
}  // namespace detail

/// One statement of a routing preview: where it goes and what it says.
struct ShardTarget {
  std::size_t shard = 0;   ///< the member's index in the group
  std::string connection;  ///< the member's connection name
  std::string host;        ///< where its reads and writes go (primary; reads may use its replicas)
  Query query;             ///< the exact SQL and values that member receives
};

/// What a query on a shard group would do, without running it.
struct RoutePlan {
  std::string group;
  std::string route;  ///< "one shard (key 42)", "every shard", "2 shards (key IN …)"
  std::vector<ShardTarget> targets;
  std::string merge;    ///< how the rows combine
  std::string refused;  ///< non-empty: the query is refused, and why
  [[nodiscard]] bool exact() const noexcept { return refused.empty(); }
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] std::string to_json() const;
};

/// A member that did not answer a partial read.
struct ShardFailure {
  std::size_t shard = 0;
  std::string connection;
  std::string error;  ///< its error message (connection, host, SQLSTATE; never a secret)
};

/// The merged rows of the members that answered, and the ones that did not.
/// Aggregates and pages are exact over the members that answered only.
struct PartialResult {
  Result rows;
  std::vector<ShardFailure> failed;
  [[nodiscard]] bool complete() const noexcept { return failed.empty(); }
};

/// One page of a keyset walk across members, and the token for the next one
/// (empty when the walk is done).
struct KeysetPage {
  Result rows;
  std::string next;
};

class ShardGroup;

/// A read of a shard group split into the statement each member runs and
/// the merge of their answers (ShardGroup::plan_read): what get() runs on
/// its bounded executor, for a caller that runs the members itself (the
/// asynchronous API runs them at once on its event loop).
class ShardScatter {
 public:
  struct Part {
    Connection* member;
    Query query;  ///< in that member's dialect, rewritten for the merge
  };
  ShardScatter(ShardScatter&&) noexcept;
  ShardScatter& operator=(ShardScatter&&) noexcept;
  ~ShardScatter();

  /// What each member runs, one part per member asked.
  [[nodiscard]] const std::vector<Part>& parts() const noexcept;
  /// The group's answer from the members' (`answers[i]` from `parts()[i]`),
  /// merged as get() merges. The first merge over a table reads how each
  /// member compares its text from their catalogs (once per group and
  /// table, blocking). @throws UsageError for what cannot be merged exactly.
  [[nodiscard]] Result merge(std::vector<Result> answers);

  struct State;

 private:
  friend class ShardGroup;
  explicit ShardScatter(std::unique_ptr<State> state) noexcept;
  std::unique_ptr<State> m_state;
};

class ShardGroup final : public PlanningTarget, public Queryable {
 public:
  struct Shared;
  ShardGroup(std::shared_ptr<const Shared> shared, bool every_shard);
  ~ShardGroup() override;
  ShardGroup(const ShardGroup&) = delete;
  ShardGroup& operator=(const ShardGroup&) = delete;

  [[nodiscard]] const std::string& name() const noexcept;
  /// The shard-key column ("" when none is configured).
  [[nodiscard]] const std::string& key() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] const std::vector<std::string>& member_names() const noexcept;
  /// "modulo 4", "hash (jump consistent hashing over 5)", …
  [[nodiscard]] std::string strategy() const;
  /// Adds this group's counters (statements per member, by key or fan-out) to `m`.
  void collect_metrics(Metrics& m) const;

  /// The index of the member owning `key`. @throws UsageError for a key the strategy cannot place.
  [[nodiscard]] std::size_t index_of(const Value& key) const;
  /// The member owning `key`: run anything there, raw SQL included.
  [[nodiscard]] Connection& shard(const Value& key);
  [[nodiscard]] Connection& member(std::size_t index);
  /// This group with writes that name no key allowed: they run on every member.
  [[nodiscard]] ShardGroup& every_shard() noexcept;
  /// Records that `key` lives on `member` (directory strategy).
  void assign(const Value& key, std::string_view member);
  /// Rows inserted into `table` through this group without `column` get it
  /// from `ids` first (a global id: SequenceIds), then go to the member that
  /// owns them; insert_get_id(row, column) returns it. Replaces an earlier
  /// source for the table. @throws UsageError for an empty table or column.
  void generate_ids(std::string table, std::string column, std::shared_ptr<IdSource> ids);

  /// Runs `q` like get(), but a member that fails is listed instead of
  /// failing the read (when asked for: a dashboard that can show what it has).
  [[nodiscard]] PartialResult get_partial(const QueryBuilder& q);
  /// Walks `q` in pages ordered by `keys` (columns that together identify a
  /// row, never NULL, e.g. {"created_at", "id"}), `per_page` rows at a time,
  /// starting after the row `after` (a token from the previous page; "" for
  /// the first). Each member is asked for at most `per_page` rows per page,
  /// so memory stays bounded however far the walk goes.
  [[nodiscard]] KeysetPage page_by_key(const QueryBuilder& q, const std::vector<std::string>& keys, std::size_t per_page,
                                       std::string_view after = {}, bool descending = false);

  /// A read of `q` split into the statement each member runs and the merge
  /// of their answers (one part, as written, when its key names one member).
  /// @throws UsageError for a read the group refuses (as get() does).
  [[nodiscard]] ShardScatter plan_read(const QueryBuilder& q);

  /// What running `q` here would do: members, their SQL, the merge plan.
  [[nodiscard]] RoutePlan preview(const QueryBuilder& q);
  /// The same for raw SQL (run as is on every member and concatenated, or refused).
  [[nodiscard]] RoutePlan preview(std::string_view sql, Params params = {});

  // PlanningTarget
  [[nodiscard]] SingleTarget* single(const QueryBuilder& q) override;
  [[nodiscard]] Result get(const QueryBuilder& q) override;
  /// A cursor over every member the query asks, merged as rows arrive: one
  /// session per member stays busy until it is read or destroyed.
  [[nodiscard]] Cursor cursor(const QueryBuilder& q) override;
  using Queryable::cursor;  // raw SQL: every member's rows, one member after the other
  [[nodiscard]] SingleTarget& owner(const QueryBuilder& q, const Fields& row) override;
  [[nodiscard]] std::optional<std::pair<std::string, Value>> generated(const QueryBuilder& q, const Fields& row) override;
  [[nodiscard]] std::optional<std::uint64_t> move(const QueryBuilder& q, const Fields& set) override;
  [[nodiscard]] std::vector<SingleTarget*> writers(const QueryBuilder& q, const Fields* set, std::string_view what) override;
  [[nodiscard]] bool reroute(const Error& e, int attempt) override;

 protected:
  /// Raw SQL on the group: a read on every member, concatenated (refused
  /// when it would need a merge), a write or script on every member when
  /// every_shard() asked for it. (Batches, keyed inserts and transactions
  /// are SingleTarget calls: a group has none; its members do.)
  std::uint64_t run(const Statement& s) override;

 private:
  Result raw_query(std::string_view sql, std::span<const Value> params, Intent intent);
  Cursor raw_cursor(std::string_view sql, std::span<const Value> params, Intent intent);
  std::uint64_t raw_script(std::string_view sql);
  /// The members a read of `q` must ask: the key's owner, the owners of an IN
  /// list on the key, or every member.
  [[nodiscard]] std::vector<std::size_t> read_targets(const QueryBuilder& q, std::string* why) const;
  /// Runs `work` on each of `members` at once. With `failed`, a member that
  /// fails is recorded there (and its Result left out) instead of failing the call.
  [[nodiscard]] std::vector<Result> fan_out(const std::vector<std::size_t>& members,
                                            const std::function<Result(std::size_t at, Connection&)>& work,
                                            std::vector<ShardFailure>* failed = nullptr);
  [[nodiscard]] Result scatter(const QueryBuilder& q, std::vector<ShardFailure>* failed);
  /// Plans a read over the members it may touch: `s`'s planner, members and their SQL.
  void plan_scatter(ShardScatter::State& s);
  /// The members' answers to a planned read, merged; `answered` are the members that answered.
  [[nodiscard]] Result merge_scatter(ShardScatter::State& s, std::vector<Result>& answers,
                                     const std::vector<std::size_t>& answered);
  friend class ShardScatter;
  friend struct detail::OwnLayout;
  /// How member `member` compares the text of `table`'s columns (its catalog, read once per table).
  [[nodiscard]] std::vector<ColumnText> member_text(std::size_t member, const std::string& table);
  /// Refuses a fan-out whose merge compares text some member orders by
  /// another collation, or whose LIKE members read two ways. Returns the
  /// merged columns that are no text in any member's schema (compared by value).
  [[nodiscard]] std::vector<std::string> check_text(const std::vector<std::string>& merged, const std::vector<std::string>& likes, const QueryBuilder& q,
                  const std::vector<std::size_t>& targets);

  /// The group whose layout serves this one now, when an online reshard has
  /// switched it (nullptr: this one). A `write` waits while a switch holds
  /// writes. Every entry point that routes asks it first.
  [[nodiscard]] ShardGroup* moved(bool write) const;
  /// writers() on this group's own layout.
  [[nodiscard]] std::vector<SingleTarget*> own_writers(const QueryBuilder& q, const Fields* set, std::string_view what);

  std::shared_ptr<const Shared> m_shared;
  bool m_every;
  std::unique_ptr<ShardGroup> m_every_view;
};

}  // namespace plexus

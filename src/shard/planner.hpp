// Scatter-gather planning and merging for a query builder run on a shard
// group: what each shard is asked (the rewritten SQL), and how their rows
// combine into the one answer a single database would give. A query whose
// answer the merge cannot give exactly is refused with the reason: never a
// wrong answer (private to src/).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plexus/core/result.hpp"
#include "plexus/query/builder.hpp"

namespace plexus::detail {

/// "t.col" → "col".
std::string_view unqualified(std::string_view name);

class ShardPlanner {
 public:
  /// Plans `q` for a group whose shard-key column is `key_column` ("" = none).
  ShardPlanner(const QueryBuilder& q, std::string_view key_column);

  /// The shard-key values `q`'s WHERE pins (key = v, or key IN (…) at the top
  /// level, joined by AND), or nullopt when the rows may be on any member.
  [[nodiscard]] static std::optional<std::vector<Value>> key_values(const QueryBuilder& q, std::string_view key);

  /// Empty when the merge is exact; otherwise why the query is refused.
  [[nodiscard]] const std::string& refused() const noexcept { return m_refused; }
  /// The statement each shard receives, in that shard's dialect.
  [[nodiscard]] Query shard_sql(const Grammar& g) const;
  /// Combines the shards' results (in member order). `names` name the shards
  /// for errors. @throws UsageError when the rows show the merge would be
  /// wrong (a shard ordering text by another collation).
  [[nodiscard]] Result merge(std::vector<Result>& parts, std::span<const std::string> names) const;
  /// The same merge over the members' cursors, row by row: an ordered plan
  /// keeps one row per member in memory (a k-way merge), an unordered one
  /// reads the members one after the other; an aggregate plan reads every
  /// group first. `names` name the members for errors.
  [[nodiscard]] std::unique_ptr<RowSource> stream(std::vector<Cursor> parts, std::vector<std::string> names) const;
  /// The merge plan in words: "ordered merge (streaming; each shard LIMIT 15)", …
  [[nodiscard]] std::string describe() const;
  /// Columns whose text the merge compares (ORDER BY, GROUP BY, DISTINCT,
  /// MIN/MAX): every member must order their text by its bytes, as the merge
  /// does ("*": every column). Unqualified names.
  [[nodiscard]] std::vector<std::string> merged_text_columns() const;
  /// merged_text_columns() that hold text in `parts` (the members' answers).
  [[nodiscard]] std::vector<std::string> merged_text_columns(const std::vector<Result>& parts) const;
  /// Columns that are no text in the members' schemas (a DECIMAL, a
  /// timestamp) although an engine returns them as text: the merge compares
  /// their values as numbers or timestamps, not as text.
  void compare_by_value(std::vector<std::string> columns) { m_by_value = std::move(columns); }
  /// Columns a WHERE compares with LIKE: every member must read LIKE alike.
  [[nodiscard]] const std::vector<std::string>& like_columns() const noexcept { return m_like; }

 private:
  enum class Op { keep, count, sum, min, max, avg };
  struct ShardColumn {
    std::string fn;   // "" for a plain column; COUNT, SUM, MIN, MAX
    std::string arg;  // the column ("*" for COUNT(*))
    bool distinct = false;
  };
  struct Output {
    std::string name;  // as the user wrote it (alias, column or aggregate text)
    Op op = Op::keep;
    std::size_t src = 0, src2 = 0;  // shard columns (avg: sum, count)
    bool hidden = false;
  };
  struct SortKey {
    std::size_t out;  // output index (star mode: resolved by name at merge time)
    std::string name;
    bool desc = false;
  };
  struct Having {
    std::size_t out;
    std::string_view op;
    Value value;
  };

  void refuse(std::string why) {
    if (m_refused.empty()) m_refused = std::move(why);
  }
  void plan_columns(const QueryBuilder& q, std::string_view key_column);
  void check_conditions(const QuerySpec::Conditions& conds);
  std::optional<std::size_t> find_output(std::string_view name) const;
  std::size_t add_shard_column(ShardColumn c);

  /// Where each returned column (and its name) and each sort key sit in a member's row.
  struct Layout {
    std::vector<std::size_t> visible;
    std::vector<std::string> names;
    std::vector<std::size_t> key_at;
  };
  [[nodiscard]] Layout layout(const Columns& shard_cols) const;
  Result merge_rows(std::vector<Result>& parts, std::span<const std::string> names) const;
  Result merge_groups(std::vector<Result>& parts) const;

  const QueryBuilder& m_q;
  std::string m_refused;
  bool m_star = false;       // SELECT *: the shards' columns as they come
  bool m_aggregate = false;  // aggregates or GROUP BY: rows combine by group
  bool m_distinct = false;
  std::vector<ShardColumn> m_cols;
  std::vector<Output> m_outs;
  std::vector<std::size_t> m_group_srcs;
  std::vector<SortKey> m_sort;
  std::vector<Having> m_having;
  std::optional<std::uint64_t> m_limit, m_offset;
  std::vector<std::string> m_like;
  std::vector<std::string> m_by_value;
  [[nodiscard]] bool by_value(std::string_view column) const;
  /// by_value() of each sort key's column.
  [[nodiscard]] std::vector<bool> sort_by_value() const;
};

}  // namespace plexus::detail

#include "plexus/shard/shard_group.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <cctype>

#include <nlohmann/json.hpp>

#include "db/task_pool.hpp"
#include "plexus/core/error.hpp"
#include "plexus/db/catalog.hpp"
#include "plexus/shard/ids.hpp"
#include "shard/groups.hpp"
#include "db/metrics.hpp"
#include "shard/follower.hpp"
#include "shard/own_layout.hpp"
#include "shard/planner.hpp"
#include "shard/strategy.hpp"

namespace plexus {

struct ShardGroup::Shared {
  ShardGroupConfig cfg;
  std::vector<Connection*> members;
  std::unique_ptr<detail::ShardStrategy> strategy;
  std::unique_ptr<detail::TaskPool> pool;  // the fan-out's bounded executor
  /// Statements sent to each member: [2i] routed by key, [2i+1] in a fan-out.
  mutable std::unique_ptr<detail::Counter[]> routed;
  void count(std::size_t member, bool keyed) const noexcept { detail::bump(routed[2 * member + (keyed ? 0 : 1)]); }
  /// How each member compares a table's text, read from its catalog once per
  /// table (by "member\x1ftable").
  mutable std::mutex text_mutex;
  mutable std::map<std::string, std::vector<ColumnText>> text;
  /// Where a table's rows without an id get one: table → (column, source).
  mutable std::mutex ids_mutex;
  mutable std::map<std::string, std::pair<std::string, std::shared_ptr<IdSource>>, std::less<>> ids;
  detail::BeginGlobal begin_global;  ///< moves of rows whose shard key changes
  /// Which layout serves the group during an online reshard (null: no control configured).
  std::unique_ptr<detail::LayoutFollower> follower;
};

namespace {

std::string host_of(const Connection& c) {
  const auto& cfg = c.config();
  return cfg.hosts.empty() ? cfg.database : cfg.hosts.front().to_string();
}

/// Raw SQL whose rows a concatenation would answer wrongly: anything that
/// orders, limits, groups, aggregates or removes duplicates (looked for
/// outside quotes and comments, as whole words).
std::string needs_merge(std::string_view sql) {
  static constexpr std::string_view kWords[] = {"ORDER", "LIMIT", "OFFSET", "FETCH", "GROUP", "HAVING", "DISTINCT",
                                                "UNION", "INTERSECT", "EXCEPT", "COUNT", "SUM", "AVG", "MIN", "MAX",
                                                "OVER", "TOP", "JOIN"};
  std::string word;
  auto check = [&]() -> std::string {
    for (auto w : kWords)
      if (word == w) return std::string(w);
    return "";
  };
  for (std::size_t i = 0; i <= sql.size(); ++i) {
    const char c = i < sql.size() ? sql[i] : ' ';
    if (c == '\'' || c == '"' || c == '`') {  // skip a quoted literal or identifier
      if (auto w = check(); !w.empty()) return w;
      word.clear();
      auto end = sql.find(c, i + 1);
      if (end == std::string_view::npos) break;
      i = end;
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      if (auto w = check(); !w.empty()) return w;
      word.clear();
      auto end = sql.find('\n', i);
      if (end == std::string_view::npos) break;
      i = end;
      continue;
    }
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      continue;
    }
    if (auto w = check(); !w.empty()) return w;
    word.clear();
  }
  return "";
}

/// The members' cursors read one after the other.
class ChainedSource final : public RowSource {
 public:
  // The names are kept: a member's cursor lets go of its own once it is read to the end.
  explicit ChainedSource(std::vector<Cursor> parts) : m_parts(std::move(parts)), m_columns(m_parts.front().columns()) {}
  const Columns& columns() const override { return m_columns; }
  bool next(std::vector<Value>& row) override {
    for (; m_at < m_parts.size(); ++m_at) {
      if (!m_parts[m_at].next()) continue;
      const Row r = m_parts[m_at].row();
      row.assign(r.begin(), r.end());
      return true;
    }
    return false;
  }

 private:
  std::vector<Cursor> m_parts;
  Columns m_columns;
  std::size_t m_at = 0;
};

std::string key_text(const Value& v) { return v.type() == Value::Type::text ? "'" + v.to_string() + "'" : v.to_string(); }

}  // namespace

ShardGroup::ShardGroup(std::shared_ptr<const Shared> shared, bool every_shard)
    : Queryable(static_cast<PlanningTarget&>(*this)), m_shared(std::move(shared)), m_every(every_shard) {
  if (!m_every) m_every_view = std::make_unique<ShardGroup>(m_shared, true);
}

ShardGroup::~ShardGroup() = default;

const std::string& ShardGroup::name() const noexcept { return m_shared->cfg.name; }
const std::string& ShardGroup::key() const noexcept { return m_shared->cfg.key; }

ShardGroup* ShardGroup::moved(bool write) const {
  if (!m_shared->follower) [[likely]] return nullptr;
  ShardGroup* to = m_shared->follower->serving(write);
  if (!to) return nullptr;
  return m_every ? &to->every_shard() : to;
}

bool ShardGroup::reroute(const Error& e, int attempt) {
  // The member sealed because its rows moved: read the layout again (held
  // writes wait for the switch to end) and send the write there. Bounded:
  // a layout that keeps answering with a sealed member is a stuck switch.
  if (!m_shared->follower || attempt >= 20 || !detail::refused_by_seal(e)) return false;
  m_shared->follower->expire();
  return true;
}

std::size_t ShardGroup::size() const noexcept { return member_names().size(); }
const std::vector<std::string>& ShardGroup::member_names() const noexcept {
  if (m_shared->follower) [[unlikely]] {
    try {
      (void)m_shared->follower->serving(false);  // reads the layout when due
    } catch (...) {
      // The control database does not answer: the layout last read (a
      // statement on the group says why).
    }
    if (const ShardGroup* to = m_shared->follower->last_serving()) return to->member_names();
  }
  return m_shared->cfg.members;
}
std::string ShardGroup::strategy() const {
  if (auto* to = moved(false)) return to->strategy();
  return m_shared->strategy->describe();
}

std::size_t ShardGroup::index_of(const Value& key) const {
  if (auto* to = moved(false)) return to->index_of(key);
  return m_shared->strategy->place(key);
}
Connection& ShardGroup::shard(const Value& key) {
  // Raw SQL there may write: held while a switch holds the group's writes.
  if (auto* to = moved(true)) return to->shard(key);
  return *m_shared->members[m_shared->strategy->place(key)];
}

Connection& ShardGroup::member(std::size_t index) {
  if (auto* to = moved(false)) return to->member(index);
  if (index >= m_shared->members.size())
    throw UsageError("shard group '" + name() + "' has " + std::to_string(m_shared->members.size()) + " members; there is no member " +
                     std::to_string(index));
  return *m_shared->members[index];
}

ShardGroup& ShardGroup::every_shard() noexcept { return m_every ? *this : *m_every_view; }

void ShardGroup::assign(const Value& key, std::string_view member_name) {
  const auto& names = m_shared->cfg.members;
  auto it = std::find(names.begin(), names.end(), member_name);
  if (it == names.end())
    throw UsageError("shard group '" + name() + "' has no member '" + std::string(member_name) + "'");
  m_shared->strategy->assign(key, static_cast<std::size_t>(it - names.begin()));
}

// ---- routing -----------------------------------------------------------------

std::vector<std::size_t> ShardGroup::read_targets(const QueryBuilder& q, std::string* why) const {
  std::vector<std::size_t> out;
  if (auto keys = detail::ShardPlanner::key_values(q, key())) {
    if (keys->empty()) {
      // The key IN an empty list: no member holds a row. One member still
      // answers (its WHERE is false), so the answer has the shape one
      // database gives: no rows, or the aggregates of none (COUNT 0).
      if (why) *why = "one shard (" + key() + " IN an empty list: no row anywhere)";
      return {0};
    }
    for (const auto& k : *keys) {
      const std::size_t i = m_shared->strategy->place(k);
      if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
    }
    std::sort(out.begin(), out.end());
    if (why) {
      *why = keys->size() == 1 ? "one shard (" + key() + " = " + key_text(keys->front()) + ")"
                               : std::to_string(out.size()) + " of " + std::to_string(m_shared->members.size()) + " shards (" + key() +
                                     " IN a list of " + std::to_string(keys->size()) + ")";
    }
    return out;
  }
  for (std::size_t i = 0; i < m_shared->members.size(); ++i) out.push_back(i);
  if (why) *why = "every shard (no " + (key().empty() ? std::string("shard key configured") : key() + " = … in WHERE") + ")";
  return out;
}

SingleTarget* ShardGroup::single(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->single(q);
  auto targets = read_targets(q, nullptr);
  if (targets.size() == 1 && targets.size() != m_shared->members.size()) {
    m_shared->count(targets.front(), true);
    return m_shared->members[targets.front()];
  }
  if (m_shared->members.size() == 1) {
    m_shared->count(0, true);
    return m_shared->members.front();
  }
  return nullptr;
}

SingleTarget& ShardGroup::owner(const QueryBuilder& q, const Fields& row) {
  if (auto* to = moved(true)) return to->owner(q, row);
  if (key().empty())
    throw UsageError("insert into '" + q.table() + "' on shard group '" + name() +
                     "': the group has no key column configured (key = \"…\"), so it cannot place the row; set one "
                     "or insert on a member (shard(key))");
  for (const auto& [column, value] : row)
    if (column == key()) {
      const std::size_t i = m_shared->strategy->place(value);
      m_shared->count(i, true);
      return *m_shared->members[i];
    }
  throw UsageError("insert into '" + q.table() + "' on shard group '" + name() + "' needs the shard key '" + key() +
                   "' in the row, to know which member holds it");
}

void ShardGroup::generate_ids(std::string table, std::string column, std::shared_ptr<IdSource> ids) {
  if (table.empty() || column.empty() || !ids)
    throw UsageError("shard group '" + name() + "': generate_ids() needs a table, a column and an id source");
  if (column == key() && strategy().starts_with("modulo") && !ids->spreads_by_modulo())
    throw UsageError("shard group '" + name() + "': its modulo strategy places '" + table + "' rows by the low bits of '" +
                     column + "', which these ids keep mostly equal (time-ordered ids count within a millisecond "
                     "there), so nearly every row would go to one member; use strategy \"hash\" (or SequenceIds)");
  std::lock_guard lock(m_shared->ids_mutex);
  m_shared->ids[std::move(table)] = {std::move(column), std::move(ids)};
}

std::optional<std::pair<std::string, Value>> ShardGroup::generated(const QueryBuilder& q, const Fields& row) {
  std::shared_ptr<IdSource> source;
  std::string column;
  {
    std::lock_guard lock(m_shared->ids_mutex);
    auto it = m_shared->ids.find(q.table());
    if (it == m_shared->ids.end()) return std::nullopt;
    column = it->second.first;
    source = it->second.second;
  }
  for (const auto& field : row)
    if (field.first == column) return std::nullopt;  // the application chose it
  return std::pair<std::string, Value>{std::move(column), Value(source->next())};
}

std::optional<std::uint64_t> ShardGroup::move(const QueryBuilder& q, const Fields& set) {
  if (auto* to = moved(true)) return to->move(q, set);
  if (key().empty()) return std::nullopt;
  const Value* new_key = nullptr;
  for (const auto& [column, value] : set)
    if (column == key()) new_key = &value;
  if (!new_key) return std::nullopt;
  const std::size_t to = m_shared->strategy->place(*new_key);
  // Where the matching rows may be: the key's member, or every member when
  // the where names no key and every_shard() allowed it (else refused here).
  std::vector<std::size_t> from;
  for (SingleTarget* w : own_writers(q, nullptr, "update"))
    for (std::size_t i = 0; i < m_shared->members.size(); ++i)
      if (w == m_shared->members[i]) from.push_back(i);
  if (from.size() == 1 && from.front() == to) return q.on(*m_shared->members[to]).update(set);  // stays where it is
  std::vector<std::string> names;
  for (std::size_t i : from) names.push_back(m_shared->cfg.members[i]);
  if (std::find(from.begin(), from.end(), to) == from.end()) names.push_back(m_shared->cfg.members[to]);
  // One commit across the members: each row is read (locked), deleted where
  // it is and inserted on its new member with the update applied, or none is.
  GlobalTransaction g = m_shared->begin_global(names);
  Transaction& target = g[m_shared->cfg.members[to]];
  std::uint64_t n = 0;
  for (std::size_t i : from) {
    Transaction& tx = g[m_shared->cfg.members[i]];
    if (i == to) {
      n += q.on(tx).update(set);
      continue;
    }
    const Query read = q.on(tx).to_sql(tx.grammar());
    const Result rows = tx.select(read.sql + std::string(tx.grammar().row_lock()), read.bindings);
    if (rows.empty()) continue;
    if (const auto deleted = q.on(tx).remove(); deleted != rows.size())
      throw Error(ErrorKind::retryable,
                  "moving rows of '" + q.table() + "' to member '" + m_shared->cfg.members[to] + "' of shard group '" + name() +
                      "': " + std::to_string(rows.size()) + " were read on '" + m_shared->cfg.members[i] + "' but " +
                      std::to_string(deleted) + " deleted (they changed meanwhile); nothing was moved, run it again");
    std::vector<Fields> moved;
    moved.reserve(rows.size());
    for (Row row : rows) {
      Fields f;
      for (std::size_t c = 0; c < rows.columns().size(); ++c) {
        const std::string& column = rows.columns()[c];
        auto it = std::find_if(set.begin(), set.end(), [&](const auto& s) { return s.first == column; });
        f.emplace_back(column, it != set.end() ? it->second : Value(row[c]));
      }
      moved.push_back(std::move(f));
    }
    (void)QueryBuilder(target, q.table()).insert_many(moved);
    n += rows.size();
  }
  g.commit();
  return n;
}

std::vector<SingleTarget*> ShardGroup::writers(const QueryBuilder& q, const Fields* set, std::string_view what) {
  if (auto* to = moved(true)) return to->writers(q, set, what);
  return own_writers(q, set, what);
}

std::vector<SingleTarget*> ShardGroup::own_writers(const QueryBuilder& q, const Fields* set, std::string_view what) {
  if (set && !key().empty())
    for (const auto& [column, value] : *set)
      if (column == key())  // update() moves the row (move()); what else reaches here cannot
        throw UsageError(std::string(what) + " of '" + q.table() + "' on shard group '" + name() + "' changes the shard key '" +
                         key() + "' by an expression: the new member is not known before it runs; set the key to "
                         "a value with update() instead (the row then moves to its new member)");
  std::string why;
  auto targets = read_targets(q, &why);
  if (targets.size() != m_shared->members.size() || m_every) {
    std::vector<SingleTarget*> out;
    for (auto i : targets) {
      m_shared->count(i, targets.size() == 1);
      out.push_back(m_shared->members[i]);
    }
    return out;
  }
  throw UsageError(std::string(what) + " of '" + q.table() + "' on shard group '" + name() + "' names no shard key (" +
                   (key().empty() ? std::string("none is configured") : "where(\"" + key() + "\", …)") +
                   "), so it would touch every member: say so with db.shards(\"" + name() +
                   "\").every_shard(), or add the key");
}

// ---- scatter-gather ----------------------------------------------------------

namespace {
/// What get_partial() leaves out and lists: a member down, lost or too slow.
bool member_unavailable(const Error& e) { return e.is_connection_error() || e.is_timeout(); }
}  // namespace

std::vector<Result> ShardGroup::fan_out(const std::vector<std::size_t>& members,
                                        const std::function<Result(std::size_t at, Connection&)>& work,
                                        std::vector<ShardFailure>* failed) {
  std::vector<Result> parts(members.size());
  std::vector<std::function<void()>> tasks;
  tasks.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    m_shared->count(members[i], false);
    tasks.emplace_back([&, i] { parts[i] = work(i, *m_shared->members[members[i]]); });
  }
  const auto errors = m_shared->pool->run_all(tasks);
  if (!failed) {
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);  // the error names the member's connection
    return parts;
  }
  // A member that is down or too slow is left out and listed. Any other
  // error is a mistake in the query (an unknown column, a syntax error) when
  // no member could run it, and throws; when others answered, it is that
  // member's own (a table it lacks) and is listed too.
  const bool any_answered = std::any_of(errors.begin(), errors.end(), [](const auto& e) { return !e; });
  std::vector<Result> answered;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!errors[i]) {
      answered.push_back(std::move(parts[i]));
      continue;
    }
    try {
      std::rethrow_exception(errors[i]);
    } catch (const UsageError&) {
      throw;  // refused before it ran
    } catch (const Error& e) {
      if (!member_unavailable(e) && !any_answered) throw;
      failed->push_back({members[i], m_shared->cfg.members[members[i]], e.what()});
    }
  }
  return answered;
}

std::vector<ColumnText> ShardGroup::member_text(std::size_t member, const std::string& table) {
  const std::string key = std::to_string(member) + '\x1f' + table;
  {
    std::lock_guard lock(m_shared->text_mutex);
    if (auto it = m_shared->text.find(key); it != m_shared->text.end()) return it->second;
  }
  auto rules = text_rules(*m_shared->members[member], table);
  std::lock_guard lock(m_shared->text_mutex);
  return m_shared->text.emplace(key, std::move(rules)).first->second;
}

std::vector<std::string> ShardGroup::check_text(const std::vector<std::string>& merged,
                                                const std::vector<std::string>& likes, const QueryBuilder& q,
                                                const std::vector<std::size_t>& targets) {
  if (targets.size() < 2) return {};  // one member answers as itself: nothing is merged
  if (merged.empty() && likes.empty()) return {};
  const auto refuse = [&](const std::string& why) {
    throw UsageError("shard group '" + name() + "': query on '" + q.table() + "' refused: " + why);
  };
  const auto find = [](const std::vector<ColumnText>& cols, const std::string& c) -> const ColumnText* {
    for (const auto& t : cols)
      if (t.column == c) return &t;
    for (const auto& t : cols)
      if (t.column.size() == c.size() && std::equal(c.begin(), c.end(), t.column.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          }))
        return &t;
    return nullptr;
  };
  std::vector<std::vector<ColumnText>> rules;
  for (auto m : targets) rules.push_back(member_text(m, q.table()));
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (const auto& c : merged) {
      for (const auto& t : rules[i]) {
        if (c != "*" && &t != find(rules[i], c)) continue;
        if (!t.binary_order)
          refuse("member '" + m_shared->cfg.members[targets[i]] + "' compares the text of column '" + t.column +
                 "' by collation '" + t.collation + "', not by its bytes as the merge across members does, so the "
                 "merged order, groups or MIN/MAX would differ from one database's; give the column a binary "
                 "collation on every member (\"C\" on PostgreSQL, utf8mb4_bin on MariaDB, BINARY on SQLite), or "
                 "query one member");
      }
    }
  }
  // Merged columns no member's schema calls text (no collation anywhere):
  // their text is a number or a timestamp as an engine spells it.
  std::vector<std::string> by_value;
  for (const auto& c : merged) {
    if (c == "*") continue;
    bool known = false, text = false;
    for (const auto& r : rules)
      if (const ColumnText* t = find(r, c)) {
        known = true;
        text = text || !t->collation.empty();
      }
    if (known && !text) by_value.push_back(c);
  }
  for (const auto& c : likes) {
    std::string ignores, tells;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const ColumnText* t = find(rules[i], c);
      if (!t) continue;
      (t->case_sensitive_like ? tells : ignores) += (tells.empty() && ignores.empty() ? "" : ", ") + m_shared->cfg.members[targets[i]];
    }
    if (!ignores.empty() && !tells.empty())
      refuse("LIKE on column '" + c + "' ignores case on some members and tells case apart on others (ignores: " +
             ignores + "; tells apart: " + tells + "), so the members would answer one pattern two ways; use "
             "ilike for a match that ignores case everywhere, or give the column a binary collation where LIKE "
             "follows it (MariaDB)");
  }
  return by_value;
}

struct ShardScatter::State {
  State(ShardGroup& g, const QueryBuilder& query) : group(&g), q(query) {}
  ShardGroup* group;
  QueryBuilder q;                             // the planner refers to it: a State stays where it was made
  std::optional<detail::ShardPlanner> plan;   // none when one member answers alone
  std::vector<std::size_t> members;           // the members asked, in parts order
  std::vector<ShardScatter::Part> parts;
};

ShardScatter::ShardScatter(std::unique_ptr<State> state) noexcept : m_state(std::move(state)) {}
ShardScatter::ShardScatter(ShardScatter&&) noexcept = default;
ShardScatter& ShardScatter::operator=(ShardScatter&&) noexcept = default;
ShardScatter::~ShardScatter() = default;
const std::vector<ShardScatter::Part>& ShardScatter::parts() const noexcept { return m_state->parts; }

Result ShardScatter::merge(std::vector<Result> answers) {
  if (answers.size() != m_state->parts.size())
    throw UsageError("shard group '" + m_state->group->name() + "': " + std::to_string(answers.size()) +
                     " answers to merge for a read that asked " + std::to_string(m_state->parts.size()) + " members");
  if (!m_state->plan) return std::move(answers.front());
  return m_state->group->merge_scatter(*m_state, answers, m_state->members);
}

void ShardGroup::plan_scatter(ShardScatter::State& s) {
  s.plan.emplace(s.q, key());
  if (!s.plan->refused().empty())
    throw UsageError("shard group '" + name() + "': query on '" + s.q.table() + "' refused: " + s.plan->refused());
  s.members = read_targets(s.q, nullptr);
  for (std::size_t i : s.members) {
    Connection& c = *m_shared->members[i];
    s.parts.push_back({&c, s.plan->shard_sql(c.grammar())});
  }
}

Result ShardGroup::merge_scatter(ShardScatter::State& s, std::vector<Result>& answers,
                                 const std::vector<std::size_t>& answered) {
  if (answers.empty()) return Result();  // every member failed (listed by the caller)
  std::vector<std::string> names;
  for (auto i : answered) names.push_back(m_shared->cfg.members[i]);
  // Text the merge compares must order alike on every member: asked of
  // their catalogs (once per table) for the columns that hold text here.
  s.plan->compare_by_value(check_text(s.plan->merged_text_columns(answers), s.plan->like_columns(), s.q, answered));
  try {
    return s.plan->merge(answers, names);
  } catch (const UsageError& e) {
    throw UsageError("shard group '" + name() + "': query on '" + s.q.table() + "': " + e.message());
  }
}

ShardScatter ShardGroup::plan_read(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->plan_read(q);
  auto s = std::make_unique<ShardScatter::State>(*this, q);
  if (SingleTarget* one = single(s->q)) {  // as get() runs it: on that member, as written
    for (std::size_t i = 0; i < m_shared->members.size(); ++i)
      if (static_cast<SingleTarget*>(m_shared->members[i]) == one) {
        s->members.push_back(i);
        s->parts.push_back({m_shared->members[i], s->q.to_sql(one->grammar())});
      }
    return ShardScatter(std::move(s));
  }
  plan_scatter(*s);
  for (std::size_t i : s->members) m_shared->count(i, false);
  return ShardScatter(std::move(s));
}

Result ShardGroup::scatter(const QueryBuilder& q, std::vector<ShardFailure>* failed) {
  ShardScatter::State s(*this, q);
  plan_scatter(s);
  auto answered = s.members;
  auto parts = fan_out(
      answered,
      [&](std::size_t at, Connection& c) {
        const Query& sql = s.parts[at].query;
        return c.select(sql.sql, sql.bindings);
      },
      failed);
  if (failed)
    std::erase_if(answered, [&](std::size_t i) {
      return std::any_of(failed->begin(), failed->end(), [&](const ShardFailure& f) { return f.shard == i; });
    });
  return merge_scatter(s, parts, answered);
}

Result ShardGroup::get(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->get(q);
  return scatter(q, nullptr);
}

Cursor ShardGroup::cursor(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->cursor(q);
  detail::ShardPlanner plan(q, key());
  if (!plan.refused().empty())
    throw UsageError("shard group '" + name() + "': query on '" + q.table() + "' refused: " + plan.refused());
  std::vector<Cursor> parts;
  std::vector<std::string> names;
  const auto targets = read_targets(q, nullptr);
  plan.compare_by_value(check_text(plan.merged_text_columns(), plan.like_columns(), q, targets));
  for (auto i : targets) {
    Connection& c = *m_shared->members[i];
    const Query sql = plan.shard_sql(c.grammar());
    parts.push_back(c.cursor(sql.sql, sql.bindings));
    names.push_back(c.name());
  }
  return Cursor(plan.stream(std::move(parts), std::move(names)));
}

PartialResult ShardGroup::get_partial(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->get_partial(q);
  PartialResult out;
  if (single(q)) {
    try {
      out.rows = QueryBuilder(q).get();
    } catch (const Error& e) {
      if (!member_unavailable(e)) throw;  // the one member asked could not run it: the query's mistake
      const auto targets = read_targets(q, nullptr);
      out.failed.push_back({targets.front(), m_shared->cfg.members[targets.front()], e.what()});
    }
    return out;
  }
  out.rows = scatter(q, &out.failed);
  return out;
}


RoutePlan ShardGroup::preview(const QueryBuilder& q) {
  if (auto* to = moved(false)) return to->preview(q);
  RoutePlan p;
  p.group = name();
  detail::ShardPlanner plan(q, key());
  std::vector<std::size_t> targets;
  try {
    targets = read_targets(q, &p.route);
  } catch (const UsageError& e) {
    p.refused = e.message();
    return p;
  }
  const bool one = targets.size() == 1 && m_shared->members.size() > 1;
  p.refused = one ? "" : plan.refused();
  p.merge = one ? "none: the one shard's rows as they come" : plan.describe();
  for (auto i : targets) {
    Connection& c = *m_shared->members[i];
    ShardTarget t{i, c.name(), host_of(c), one ? q.to_sql(c.grammar()) : Query{}};
    if (!one && p.refused.empty()) t.query = plan.shard_sql(c.grammar());
    p.targets.push_back(std::move(t));
  }
  return p;
}

RoutePlan ShardGroup::preview(std::string_view sql, Params params) {
  if (auto* to = moved(false)) return to->preview(sql, std::move(params));
  RoutePlan p;
  p.group = name();
  p.route = "every shard (raw SQL names no key)";
  if (auto w = needs_merge(sql); !w.empty())
    p.refused = "raw SQL with " + w + " would be answered per shard, not for the group; build it with table() so "
                "Plexus can merge it, or run it on one member";
  p.merge = p.refused.empty() ? "concatenate the shards' rows" : "";
  for (std::size_t i = 0; i < m_shared->members.size(); ++i) {
    Connection& c = *m_shared->members[i];
    std::vector<Value> values(params.span().begin(), params.span().end());
    p.targets.push_back({i, c.name(), host_of(c), Query{std::string(sql), std::move(values)}});
  }
  return p;
}

std::string RoutePlan::to_string() const {
  std::string s = "group " + group + ": " + route + "\n";
  for (const auto& t : targets) {
    s += "  shard " + std::to_string(t.shard) + " " + t.connection + " (" + t.host + "): " + t.query.sql;
    if (!t.query.bindings.empty()) {
      s += "  [";
      for (std::size_t i = 0; i < t.query.bindings.size(); ++i)
        s += (i ? ", " : "") + t.query.bindings[i].to_string();
      s += "]";
    }
    s += "\n";
  }
  s += refused.empty() ? "merge: " + merge + "\n" : "refused: " + refused + "\n";
  return s;
}

std::string RoutePlan::to_json() const {
  nlohmann::json j;
  j["group"] = group;
  j["route"] = route;
  j["exact"] = exact();
  j["merge"] = merge;
  if (!refused.empty()) j["refused"] = refused;
  j["targets"] = nlohmann::json::array();
  for (const auto& t : targets) {
    nlohmann::json b = nlohmann::json::array();
    for (const auto& v : t.query.bindings) b.push_back(v.is_null() ? nlohmann::json() : nlohmann::json(v.to_string()));
    j["targets"].push_back({{"shard", t.shard}, {"connection", t.connection}, {"host", t.host}, {"sql", t.query.sql}, {"bindings", b}});
  }
  return j.dump(2);
}

// ---- raw SQL -----------------------------------------------------------------

Result ShardGroup::raw_query(std::string_view sql, std::span<const Value> params, Intent intent) {
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < m_shared->members.size(); ++i) all.push_back(i);
  if (intent == Intent::write) {
    if (!m_every)
      throw UsageError("shard group '" + name() + "': raw SQL that writes names no member: run it on one (shard(key)) "
                       "or on every member with db.shards(\"" + name() + "\").every_shard()");
    const auto parts = fan_out(all, [&](std::size_t, Connection& c) { return c.execute(sql, params); });
    Result out;
    std::uint64_t affected = 0;
    for (const auto& r : parts) affected += r.affected_rows();
    out.set_affected_rows(affected);
    return out;
  }
  if (auto w = needs_merge(sql); !w.empty())
    throw UsageError("shard group '" + name() + "': raw SQL with " + w +
                     " would be answered per shard, not for the group (concatenated rows would be wrong); build it "
                     "with table() so Plexus can merge it exactly, or run it on one member (shard(key))");
  auto parts = fan_out(all, [&](std::size_t, Connection& c) { return c.select(sql, params); });
  Result out(parts.front().columns());
  for (const auto& part : parts)
    for (Row row : part) {
      Value* dst = out.append_row();
      for (std::size_t c = 0; c < row.size(); ++c) dst[c] = row[c];
    }
  return out;
}

Cursor ShardGroup::raw_cursor(std::string_view sql, std::span<const Value> params, Intent intent) {
  if (intent == Intent::write)
    throw UsageError("shard group '" + name() + "': a cursor reads; run writes with execute() on a member or every_shard()");
  if (auto w = needs_merge(sql); !w.empty())
    throw UsageError("shard group '" + name() + "': raw SQL with " + w +
                     " would be answered per shard, not for the group; build it with table() so Plexus can merge it");
  // The members one after the other, each streamed.
  const std::vector<Value> values(params.begin(), params.end());
  std::vector<Cursor> parts;
  for (auto* m : m_shared->members) parts.push_back(m->cursor(sql, values));
  return Cursor(std::make_unique<ChainedSource>(std::move(parts)));
}

std::uint64_t ShardGroup::run(const Statement& s) {
  using Kind = Statement::Kind;
  if (auto* to = moved(s.intent == Intent::write || s.kind == Kind::script)) return to->run(s);
  switch (s.kind) {
    case Kind::query: *s.result = raw_query(s.sql, s.params, s.intent); return 0;
    case Kind::each: {
      const Result r = raw_query(s.sql, s.params, s.intent);
      std::uint64_t n = 0;
      for (Row row : r) {
        ++n;
        if (!(*s.visit)(row)) break;
      }
      return n;
    }
    case Kind::cursor: s.cursor->emplace(raw_cursor(s.sql, s.params, s.intent)); return 0;
    case Kind::script: return raw_script(s.sql);
    case Kind::batch:
    case Kind::insert_key:
      break;  // made only by SingleTarget's calls (batches, keyed inserts), which a group does not have
  }
  return 0;
}

std::uint64_t ShardGroup::raw_script(std::string_view sql) {
  if (!m_every)
    throw UsageError("shard group '" + name() + "': a script runs on every member only when asked: "
                     "db.shards(\"" + name() + "\").every_shard().execute_script(…)");
  std::uint64_t n = 0;
  for (auto* m : m_shared->members) n += m->execute_script(sql);
  return n;
}

void ShardGroup::collect_metrics(Metrics& m) const {
  auto& f = m.family("plexus_shard_statements_total", "counter",
                     "Statements sent to each member of a shard group, routed by key or in a fan-out");
  for (std::size_t i = 0; i < m_shared->members.size(); ++i)
    for (const bool keyed : {true, false})
      m.add(f, {{"group", name()}, {"member", m_shared->cfg.members[i]}, {"route", keyed ? "key" : "fan-out"}},
            detail::read(m_shared->routed[2 * i + (keyed ? 0 : 1)]));
}

namespace detail {

Connection& OwnLayout::member(const ShardGroup& g, std::size_t i) { return *g.m_shared->members.at(i); }
std::size_t OwnLayout::place(const ShardGroup& g, const Value& key) { return g.m_shared->strategy->place(key); }
const std::vector<std::string>& OwnLayout::names(const ShardGroup& g) { return g.m_shared->cfg.members; }

std::unique_ptr<ShardGroup> make_shard_group(const ShardGroupConfig& cfg,
                                             const std::function<Connection&(std::string_view)>& connection,
                                             const std::map<std::string, ShardFunction, std::less<>>& registered,
                                             BeginGlobal begin_global, LayoutFollower::Groups groups) {
  auto shared = std::make_shared<ShardGroup::Shared>();
  shared->cfg = cfg;
  shared->begin_global = std::move(begin_global);
  for (const auto& m : cfg.members) shared->members.push_back(&connection(m));
  shared->strategy = make_shard_strategy(cfg, registered, connection);
  shared->pool = std::make_unique<TaskPool>(cfg.parallelism ? cfg.parallelism : cfg.members.size());
  shared->routed = std::make_unique<Counter[]>(2 * cfg.members.size());
  if (!cfg.control.empty())
    shared->follower = std::make_unique<LayoutFollower>(cfg.name, connection(cfg.control),
                                                        std::chrono::milliseconds(cfg.watch_ms), std::move(groups));
  return std::make_unique<ShardGroup>(std::move(shared), false);
}

}  // namespace detail

}  // namespace plexus

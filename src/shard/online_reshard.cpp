// Online resharding: copy, change capture by triggers, catch-up, verify,
// a fenced switch recorded in the control database, reverse and complete
// (docs/sharding.md, "Online resharding").
//
// Mechanism, in one place:
// - The control connection holds one row per group in plexus_reshards: its
//   state, which group's layout serves it, whether writes are held, a
//   version and a runner lease. Every process's group reads it at most once
//   per watch interval (shard/follower.cpp).
// - Each member of a layout rows are copied from gets, per table, triggers
//   (Grammar::capture_sql) that record every written key in
//   plexus_changes_<table> and refuse writes while the member's row in
//   plexus_reshard_fence is sealed; the triggers read that row with a shared
//   lock, so sealing it waits for the writes under way.
// - Carrying a key re-reads its rows where they are served and replaces them
//   on the other layout's owner in one transaction there: idempotent, so a
//   change recorded while a key was carried is simply carried again.
#include "plexus/shard/reshard.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "plexus/core/error.hpp"
#include "plexus/db/catalog.hpp"
#include "plexus/db/registry.hpp"
#include "plexus/driver/grammar.hpp"
#include "plexus/shard/shard_group.hpp"
#include "shard/own_layout.hpp"
#include "tx/identity.hpp"
#include "shard/reshard_checks.hpp"
#include "core/utc.hpp"

namespace plexus {

namespace {

constexpr std::string_view kControl = "plexus_reshards";
constexpr std::string_view kFence = "plexus_reshard_fence";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

using detail::utc_now;

std::string changes_table(std::string_view table) { return "plexus_changes_" + std::string(table); }

std::string join(const std::vector<std::string>& parts, std::string_view sep = ",") {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(sep)) + p;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size() && !text.empty()) {
    auto end = text.find(',', at);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

/// A number written as text the same way on every engine: "9.50" and 9.5
/// alike (a DECIMAL read as text from one engine, a REAL from another).
std::string number_text(std::string s) {
  if (s.find('.') == std::string::npos || s.find_first_of("eE") != std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool digit = false, dot = false;
  for (; i < s.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(s[i]))) digit = true;
    else if (s[i] == '.' && !dot) dot = true;
    else return false;
  }
  return digit;
}

/// One value as text that two engines holding the same value agree on.
void canonical(const Value& v, std::string& out) {
  switch (v.type()) {
    case Value::Type::null: out += "\x01N"; break;
    case Value::Type::boolean: out += v.raw_bool() ? "1" : "0"; break;
    case Value::Type::real: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.15f", v.raw_real());
      out += number_text(buf);
      break;
    }
    case Value::Type::text: {
      std::string s = v.to_string();
      out += looks_numeric(s) ? number_text(std::move(s)) : s;
      break;
    }
    default: out += v.to_string();
  }
  out += '\x1f';
}

/// The rows of one key on one side, each as canonical text over its columns
/// by name (two engines may order the columns differently), sorted.
using KeyRows = std::map<std::string, std::vector<std::string>>;

void add_rows(const Result& rows, std::string_view key, KeyRows& out) {
  const auto k = rows.columns().find(key);
  std::vector<std::size_t> order(rows.columns().size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rows.columns()[a] < rows.columns()[b]; });
  for (Row row : rows) {
    std::string text;
    for (std::size_t i : order) {
      text += rows.columns()[i];
      text += '=';
      canonical(row[i], text);
    }
    std::string kt;
    canonical(row[*k], kt);
    out[kt].push_back(std::move(text));
  }
}

std::string key_label(const Value& v) { return v.is_null() ? "NULL" : v.to_string(); }

}  // namespace

// ---- the workflow ------------------------------------------------------------

struct OnlineReshard::Impl {
  /// One layout: its members, their names and where it places a key.
  struct Side {
    ShardGroup* group = nullptr;
    std::vector<Connection*> members;
    std::vector<std::string> names;
    std::size_t place(const Value& k) const { return detail::OwnLayout::place(*group, k); }
  };

  ConnectionRegistry& db;
  std::string group;
  OnlineReshardOptions opts;
  Connection* control = nullptr;
  std::string runner;
  std::string key;

  Impl(ConnectionRegistry& d, std::string g, OnlineReshardOptions o) : db(d), group(std::move(g)), opts(std::move(o)) {
    ShardGroup& from = db.shards(group);
    const ShardGroupConfig* cfg = db.config().find_shard_group(group);
    if (!cfg || cfg->control.empty())
      throw UsageError("online reshard of shard group '" + group + "': the group has no control connection, so the "
                       "application's processes could not follow the switch; set control = \"<connection>\" under "
                       "[shards." + group + "] (every process's configuration names the same one)");
    control = &db.connection(cfg->control);
    key = from.key();
    char host[64] = {};
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    runner = std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(rd() % 100000);
  }

  Side side(std::string_view name) {
    Side s;
    s.group = &db.shards(name);
    s.names = detail::OwnLayout::names(*s.group);
    for (std::size_t i = 0; i < s.names.size(); ++i) s.members.push_back(&detail::OwnLayout::member(*s.group, i));
    return s;
  }

  std::string where() const { return "online reshard of shard group '" + group + "'"; }

  // ---- the control row ----

  void ensure_control_table() {
    std::string t;
    control->grammar().quote(t, kControl);
    try {
      control->execute("CREATE TABLE IF NOT EXISTS " + t +
                       " (grp VARCHAR(191) PRIMARY KEY, to_grp VARCHAR(191) NOT NULL, tbls VARCHAR(2000) NOT NULL, "
                       "state VARCHAR(32) NOT NULL, serving VARCHAR(191) NOT NULL, held INTEGER NOT NULL, "
                       "version BIGINT NOT NULL, rows_copied BIGINT NOT NULL, caught_up BIGINT NOT NULL, "
                       "differences BIGINT NOT NULL, pause_ms BIGINT NOT NULL, runner VARCHAR(200) NOT NULL, "
                       "lease_until BIGINT NOT NULL, updated VARCHAR(40) NOT NULL)");
    } catch (const Error& e) {
      if (!e.is_constraint_violation()) throw;  // another process made it at the same moment
    }
  }

  std::optional<ReshardStatus> read() {
    Result r;
    try {
      r = control->on_primary().table(kControl).where("grp", group).get();
    } catch (const Error& e) {
      if (e.is_syntax()) return std::nullopt;  // no table yet
      throw;
    }
    if (r.empty()) return std::nullopt;
    Row row = r[0];
    ReshardStatus s;
    s.group = group;
    s.to_group = row["to_grp"].to_string();
    s.tables = split(row["tbls"].to_string());
    s.state = row["state"].to_string();
    s.serving = row["serving"].to_string();
    s.writes_held = row["held"].as<std::int64_t>() != 0;
    s.version = row["version"].as<std::int64_t>();
    s.rows_copied = row["rows_copied"].as<std::uint64_t>();
    s.keys_caught_up = row["caught_up"].as<std::uint64_t>();
    s.differences = row["differences"].as<std::int64_t>();
    s.last_pause_ms = row["pause_ms"].as<std::int64_t>();
    s.updated = row["updated"].to_string();
    return s;
  }

  ReshardStatus current() {
    auto s = read();
    if (!s) throw UsageError(where() + ": none was started (plexus reshard start)");
    return *s;
  }

  /// Moves the state on from `from` (the version read), or refuses when
  /// another process moved it meanwhile.
  ReshardStatus transition(const ReshardStatus& from, Fields set) {
    set.emplace_back("version", from.version + 1);
    set.emplace_back("updated", utc_now());
    const auto n = control->on_primary().table(kControl).where("grp", group).where("version", from.version).update(set);
    if (n != 1)
      throw Error(ErrorKind::retryable, where() + ": another process changed it while this step ran (it was at "
                                            "version " + std::to_string(from.version) + "); see plexus reshard status");
    return current();
  }

  /// Records progress (no change of state) while this runner holds the lease.
  void record(Fields set) {
    set.emplace_back("lease_until", now_ms() + opts.lease.count());
    set.emplace_back("updated", utc_now());
    const auto n = control->on_primary().table(kControl).where("grp", group).where("runner", runner).update(set);
    if (n != 1)
      throw Error(ErrorKind::retryable, where() + ": this runner lost its lease (another took over after it "
                                            "stopped renewing); nothing more is done here");
  }

  void acquire() {
    const std::int64_t now = now_ms();
    const auto n = control->on_primary()
                       .table(kControl)
                       .where("grp", group)
                       .where([&](QueryBuilder& q) {
                         q.where("runner", "").or_where("lease_until", "<", now).or_where("runner", runner);
                       })
                       .update({{"runner", runner}, {"lease_until", now + opts.lease.count()}});
    if (n != 1) {
      Result r = control->on_primary().table(kControl).select({"runner", "lease_until"}).where("grp", group).get();
      std::string who = r.empty() ? "?" : r[0][0].to_string();
      const std::int64_t left = r.empty() ? 0 : r[0][1].as<std::int64_t>() - now;
      throw UsageError(where() + ": another runner (" + who + ") is working on it; its lease ends in " +
                       std::to_string(std::max<std::int64_t>(left, 0)) + " ms if it stopped. Nothing was done");
    }
  }

  void release() noexcept {
    try {
      (void)control->on_primary().table(kControl).where("grp", group).where("runner", runner).update({{"runner", ""}, {"lease_until", 0}});
    } catch (...) {
    }
  }

  void report(const ReshardStatus& s) {
    if (opts.progress) opts.progress(s);
  }

  // ---- capture and fence on one layout's members ----

  /// `sealed`: a fence made now starts sealed (a layout that does not serve yet).
  void install_capture(const Side& s, const std::vector<std::string>& tables, bool sealed) {
    for (std::size_t m = 0; m < s.members.size(); ++m) {
      Connection& c = *s.members[m];
      auto primary = c.on_primary();
      std::string fence;
      c.grammar().quote(fence, kFence);
      primary.execute("CREATE TABLE IF NOT EXISTS " + fence + " (tbl VARCHAR(191) PRIMARY KEY, sealed INTEGER NOT NULL)");
      for (const auto& t : tables) {
        if (primary.table(kFence).where("tbl", t).count() == 0)
          primary.table(kFence).insert({{"tbl", t}, {"sealed", sealed ? 1 : 0}});
        const TableDescription d = describe_table(db, c.name(), t);
        std::string type;
        for (const auto& col : d.columns)
          if (col.name == key) type = col.type;
        if (type.empty())
          throw UsageError(where() + ": table '" + t + "' on member '" + c.name() + "' has no column '" + key + "' (the shard key)");
        const auto statements = c.grammar().capture_sql(t, key, type);
        if (statements.empty())
          throw UsageError(where() + ": member '" + c.name() + "' (" + c.type() + ") cannot record the changes made to '" + t +
                           "' (its engine has no triggers Plexus can install); reshard it offline with reshard()");
        for (const auto& sql : statements) primary.execute(sql);
      }
    }
  }

  void drop_capture(const Side& s, const std::vector<std::string>& tables) {
    for (Connection* c : s.members) {
      auto primary = c->on_primary();
      for (const auto& t : tables) {
        for (const auto& sql : c->grammar().drop_capture_sql(t)) primary.execute(sql);
        try {
          (void)primary.table(kFence).where("tbl", t).remove();
        } catch (const Error& e) {
          if (!e.is_syntax()) throw;
        }
      }
    }
  }

  /// Whether `member`'s fence for `table` is sealed now (no fence yet: no).
  static bool sealed_now(Connection& member, const std::string& table) {
    try {
      return member.on_primary().table(kFence).where("tbl", table).where("sealed", 1).count() > 0;
    } catch (const Error& e) {
      if (!e.is_syntax()) throw;
      return false;
    }
  }

  void seal(const Side& s, const std::vector<std::string>& tables, bool sealed) {
    // Sealing waits for the writes under way on each member (their triggers
    // hold a shared lock on the fence row); a write after it is refused.
    for (Connection* c : s.members)
      (void)c->on_primary().table(kFence).where_in("tbl", std::vector<Value>(tables.begin(), tables.end())).update({{"sealed", sealed ? 1 : 0}});
  }

  // ---- carrying rows ----

  /// Replaces the rows of `keys` on `to` with those on `source` now. Returns the rows written.
  std::uint64_t carry(Connection& source, const Side& to, const std::string& table, const std::vector<Value>& keys) {
    if (keys.empty()) return 0;
    const Result rows = source.on_primary().table(table).where_in(key, keys).get();
    std::map<std::size_t, std::pair<std::vector<Value>, std::vector<Fields>>> parts;
    for (const auto& k : keys) parts[to.place(k)].first.push_back(k);
    const auto at = rows.columns().find(key);
    for (Row row : rows) {
      Fields f;
      f.reserve(rows.columns().size());
      for (std::size_t c = 0; c < rows.columns().size(); ++c) f.emplace_back(rows.columns()[c], Value(row[c]));
      parts[to.place(row[*at])].second.push_back(std::move(f));
    }
    for (auto& entry : parts) {
      // Plain references: clang 14 cannot capture structured bindings in a lambda.
      const std::vector<Value>& keys_there = entry.second.first;
      const std::vector<Fields>& rows_there = entry.second.second;
      Connection& member = *to.members[entry.first];
      // A layout that does not serve stays sealed against every other
      // writer (a process that routed a write before the last cut-over and
      // sends it late); the carry opens the fence inside its own transaction
      // only: another writer's trigger waits for the fence row and reads it
      // sealed again.
      const bool sealed = sealed_now(member, table);
      member.atomically([&](SingleTarget& tx) {
        if (sealed) (void)tx.table(kFence).where("tbl", table).update({{"sealed", 0}});
        (void)tx.table(table).where_in(key, keys_there).remove();
        if (!rows_there.empty()) (void)tx.table(table).insert_many(rows_there);
        if (sealed) (void)tx.table(kFence).where("tbl", table).update({{"sealed", 1}});
      });
    }
    return rows.size();
  }

  /// Every key of `table` on `member`, `batch` at a time in key order.
  template <class F>
  void each_key_page(Connection& member, const std::string& table, F&& f) {
    std::optional<Value> last;
    for (;;) {
      auto q = member.on_primary().table(table).select({Expr(key)}).distinct().order_by(key).limit(static_cast<std::int64_t>(opts.batch));
      if (last) q.where(key, ">", *last);
      const Result r = q.get();
      std::vector<Value> keys;
      for (Row row : r) {
        if (row[0].is_null())
          throw UsageError(where() + ": rows of '" + table + "' on '" + member.name() + "' have a NULL " + key +
                           ", which no layout places; give them a key first");
        keys.emplace_back(row[0]);
      }
      if (keys.empty()) return;
      last = keys.back();
      f(keys);
      if (keys.size() < opts.batch) return;
    }
  }

  /// Carries the changes recorded on `from` up to now to `to` (those
  /// recorded while it runs wait for the next pass: under a steady stream
  /// of writes a pass still ends). Returns the keys carried.
  std::uint64_t drain(const Side& from, const Side& to, const std::vector<std::string>& tables, ReshardStatus& st) {
    std::uint64_t carried = 0;
    for (const auto& t : tables) {
      const std::string changes = changes_table(t);
      for (Connection* c : from.members) {
        const Value high = c->on_primary().table(changes).max("seq");
        if (high.is_null()) continue;
        for (;;) {
          const Result r = c->on_primary()
                               .table(changes)
                               .select({"seq", "k"})
                               .where("seq", "<=", high)
                               .order_by("seq")
                               .limit(static_cast<std::int64_t>(opts.batch))
                               .get();
          if (r.empty()) break;
          std::vector<Value> seqs, keys;
          std::set<std::string> seen;
          for (Row row : r) {
            seqs.emplace_back(row[0]);
            std::string text;
            canonical(row[1], text);
            if (seen.insert(text).second) keys.emplace_back(row[1]);
          }
          (void)carry(*c, to, t, keys);
          // Only the records read: one written meanwhile stays for the next round.
          (void)c->on_primary().table(changes).where_in("seq", seqs).remove();
          carried += keys.size();
          st.keys_caught_up += keys.size();
          record({{"caught_up", static_cast<std::int64_t>(st.keys_caught_up)}});
          report(st);
        }
      }
    }
    return carried;
  }

  /// The cut-over a switch and a reverse make: writes held (state
  /// `holding`), one watch interval and a margin for every process to read
  /// the hold, `stop` sealed and `go` unsealed, the changes recorded on
  /// `stop` carried to `go`, and `go` recorded as serving (state `done`).
  /// Run again after an interruption, it picks up at the hold.
  ReshardStatus cut_over(ReshardStatus st, const Side& stop, const Side& go, const char* holding, const char* done) {
    if (st.state != holding) st = transition(st, {{"state", holding}, {"held", 1}});
    const auto held_at = std::chrono::steady_clock::now();
    // Every process reads the layout at least once per watch interval: after
    // one and a margin, each holds its writes. A write begun on the old
    // layout before it saw the hold has mostly reached its member (the seal
    // waits for it); one slower than the margin is refused by the seal and
    // routed again.
    const auto watch = std::chrono::milliseconds(db.config().find_shard_group(group)->watch_ms);
    std::this_thread::sleep_for(watch + std::max(watch / 2, std::chrono::milliseconds(100)));
    seal(stop, st.tables, true);
    seal(go, st.tables, false);
    (void)drain(stop, go, st.tables, st);
    const auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - held_at);
    return transition(st, {{"state", done}, {"serving", go.group->name()}, {"held", 0},
                           {"pause_ms", static_cast<std::int64_t>(pause.count())}});
  }

  std::uint64_t backlog(const Side& s, const std::vector<std::string>& tables) {
    std::uint64_t n = 0;
    for (const auto& t : tables)
      for (Connection* c : s.members) {
        try {
          n += c->on_primary().table(changes_table(t)).count();
        } catch (const Error& e) {
          if (!e.is_syntax()) throw;  // no capture installed there
        }
      }
    return n;
  }

  // ---- checks before start ----

  /// Refuses layouts that share a member, by name or by the database two
  /// names reach: nothing the workflow deletes on one side may be the other's.
  void refuse_shared_members(const Side& from, const Side& to, const std::string& why) {
    std::map<std::string, std::string> seen;  // name, or \x01 and identity → the old member
    for (Connection* c : from.members) {
      seen[c->name()] = c->name();
      if (auto id = detail::database_identity(*c); !id.empty()) seen["\x01" + id] = c->name();
    }
    for (Connection* c : to.members) {
      auto it = seen.find(c->name());
      if (it == seen.end())
        if (auto id = detail::database_identity(*c); !id.empty()) it = seen.find("\x01" + id);
      if (it != seen.end())
        throw UsageError(where() + " into '" + to.group->name() + "': member '" + c->name() + "' of the new layout is " +
                         (it->second == c->name() ? std::string("also a member of the old one")
                                                  : "the same database as old member '" + it->second + "'") +
                         "; " + why);
    }
  }

  void check_layouts(const Side& from, const Side& to, const std::vector<std::string>& tables) {
    if (from.group == to.group) throw UsageError(where() + ": the new layout is the group itself; name another group");
    if (key.empty() || to.group->key() != key)
      throw UsageError(where() + " into '" + to.group->name() + "': both groups must route by the same key column (they "
                       "have '" + key + "' and '" + to.group->key() + "')");
    for (const Side* s : {&from, &to})
      if (s->group->strategy().starts_with("directory"))
        throw UsageError(where() + ": a directory places keys where it is told; move its rows with move_rows and assign()");
    // The copies must be invisible to the layout that serves until the
    // switch: a member of both would show a moved row twice to a scatter.
    refuse_shared_members(from, to, "an online reshard copies every row to new databases (the copies must stay "
                          "invisible to the old layout until the switch). Give the new layout its own databases, or "
                          "reshard offline with reshard(), which moves rows between shared members");
    if (tables.empty()) throw UsageError(where() + ": name the tables to move (every table the group serves)");
    for (const auto& t : tables) {
      if (!check_name(t) || t.find(',') != std::string::npos)
        throw UsageError(where() + ": '" + t + "' is not a plain table name");
      for (const Side* s : {&from, &to})
        for (Connection* c : s->members) (void)describe_table(db, c->name(), t);  // names a member without it
      detail::refuse_differing_migrations(db, *from.group, *to.group, t);
    }
  }
};

// ---- the steps ---------------------------------------------------------------

OnlineReshard::OnlineReshard(ConnectionRegistry& db, std::string group, OnlineReshardOptions opts)
    : m_impl(std::make_unique<Impl>(db, std::move(group), std::move(opts))) {}
OnlineReshard::~OnlineReshard() = default;

ReshardStatus OnlineReshard::status() {
  Impl& I = *m_impl;
  auto s = I.read();
  if (!s) {
    ReshardStatus none;
    none.group = I.group;
    none.serving = I.group;
    return none;
  }
  if (s->state == "copying" || s->state == "copied" || s->state == "switching")
    s->backlog = I.backlog(I.side(I.group), s->tables);
  else if (s->state == "switched" || s->state == "reversing")
    s->backlog = I.backlog(I.side(s->to_group), s->tables);
  return *s;
}

namespace {
/// Releases the runner lease however a step ends.
struct Lease {
  OnlineReshard::Impl& impl;
  explicit Lease(OnlineReshard::Impl& i) : impl(i) { impl.acquire(); }
  ~Lease() { impl.release(); }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
};
}  // namespace

ReshardStatus OnlineReshard::start(std::string_view to_group, std::vector<std::string> tables) {
  Impl& I = *m_impl;
  I.ensure_control_table();
  auto existing = I.read();
  if (existing && existing->state != "cancelled" && existing->state != "copying" && existing->state != "copied")
    throw UsageError(I.where() + " is already " + existing->state + " (to '" + existing->to_group + "'); " +
                     (existing->state == "complete"
                          ? "list the new layout's members under [shards." + I.group + "] and remove its row from "
                            "plexus_reshards before another"
                          : "finish it first (plexus reshard status)"));
  if (existing && (existing->state == "copying" || existing->state == "copied") &&
      (existing->to_group != to_group || existing->tables != tables))
    throw UsageError(I.where() + " to '" + existing->to_group + "' (" + join(existing->tables) + ") is under way; "
                     "resume it with the same group and tables, or cancel it first");
  Impl::Side from = I.side(I.group), to = I.side(to_group);
  I.check_layouts(from, to, tables);
  if (!existing || existing->state == "cancelled") {
    if (existing) (void)I.control->on_primary().table(kControl).where("grp", I.group).remove();
    try {
      I.control->on_primary().table(kControl).insert({{"grp", I.group},
                                                       {"to_grp", std::string(to_group)},
                                                       {"tbls", join(tables)},
                                                       {"state", "copying"},
                                                       {"serving", I.group},
                                                       {"held", 0},
                                                       {"version", 1},
                                                       {"rows_copied", 0},
                                                       {"caught_up", 0},
                                                       {"differences", -1},
                                                       {"pause_ms", -1},
                                                       {"runner", ""},
                                                       {"lease_until", 0},
                                                       {"updated", utc_now()}});
    } catch (const Error& e) {
      if (!e.is_constraint_violation()) throw;
      throw UsageError(I.where() + ": another process started it at the same moment; see plexus reshard status");
    }
  }
  Lease lease(I);
  ReshardStatus st = I.current();
  // Capture first, then copy: a row written while the copy runs is either
  // read by the copy or recorded for the catch-up (or both).
  I.install_capture(from, tables, false);
  if (st.state == "copying") {
    st.rows_copied = 0;
    for (const auto& t : tables)
      for (Connection* c : from.members)
        I.each_key_page(*c, t, [&](const std::vector<Value>& keys) {
          st.rows_copied += I.carry(*c, to, t, keys);
          I.record({{"rows_copied", static_cast<std::int64_t>(st.rows_copied)}});
          I.report(st);
        });
    st = I.transition(st, {{"state", "copied"}});
  }
  (void)I.drain(from, to, tables, st);
  st = I.current();
  I.report(st);
  return st;
}

std::uint64_t OnlineReshard::catch_up() {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "copied" && st.state != "copying")
    throw UsageError(I.where() + " is " + st.state + ": changes are carried while it is copied (before the switch; "
                     "after it, reverse() carries them back)");
  Lease lease(I);
  return I.drain(I.side(I.group), I.side(st.to_group), st.tables, st);
}

ReshardVerification OnlineReshard::verify() {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "copied" && st.state != "switched")
    throw UsageError(I.where() + " is " + st.state + "; verify compares the layouts once it is copied or switched");
  Lease lease(I);
  Impl::Side from = I.side(I.group), to = I.side(st.to_group);
  const bool forward = st.state == "copied";
  const Impl::Side& serving = forward ? from : to;  // where the changes not yet carried are recorded
  ReshardVerification out;
  auto rows_of = [&](const Impl::Side& s, const std::string& t, const std::vector<Value>& keys) {
    std::map<std::size_t, std::vector<Value>> by;
    for (const auto& k : keys) by[s.place(k)].push_back(k);
    KeyRows rows;
    for (auto& [m, ks] : by) {
      const Result r = s.members[m]->on_primary().table(t).where_in(I.key, ks).get();
      out.rows_compared += r.size();
      add_rows(r, I.key, rows);
    }
    return rows;
  };
  auto differing = [&](const std::string& t, const std::vector<Value>& keys) {
    KeyRows a = rows_of(from, t, keys), b = rows_of(to, t, keys);
    std::vector<std::pair<Value, std::string>> out_keys;
    for (const auto& k : keys) {
      std::string kt;
      canonical(k, kt);
      auto& ra = a[kt];
      auto& rb = b[kt];
      std::sort(ra.begin(), ra.end());
      std::sort(rb.begin(), rb.end());
      if (ra == rb) continue;
      const std::string f = from.names[from.place(k)], g = to.names[to.place(k)];
      std::string what;
      if (rb.empty()) what = "missing on " + g + " (" + std::to_string(ra.size()) + " row(s) on " + f + ")";
      else if (ra.empty()) what = "only on " + g + " (" + std::to_string(rb.size()) + " row(s)), none on " + f;
      else if (ra.size() != rb.size()) what = std::to_string(ra.size()) + " row(s) on " + f + ", " + std::to_string(rb.size()) + " on " + g;
      else what = "a row's values differ between " + f + " and " + g;
      out_keys.emplace_back(k, what);
    }
    return out_keys;
  };
  auto pending = [&](const std::string& t, const std::vector<Value>& keys) {
    std::set<std::string> out_keys;
    for (Connection* c : serving.members) {
      for (Row row : c->on_primary().table(changes_table(t)).select({"k"}).where_in("k", keys).get()) {
        std::string kt;
        canonical(row[0], kt);
        out_keys.insert(kt);
      }
    }
    return out_keys;
  };
  auto judge = [&](const std::string& t, const std::vector<Value>& keys) {
    out.keys_compared += keys.size();
    auto diff = differing(t, keys);
    // A key that differs because a change to it is not carried yet: carry
    // (before the switch) and look again, a few times; then what still has a
    // recorded change is in flight, the rest differs.
    for (int round = 0; round < 3 && !diff.empty() && forward; ++round) {
      std::vector<Value> again;
      for (auto& [k, w] : diff) again.push_back(k);
      (void)I.drain(from, to, {t}, st);
      diff = differing(t, again);
    }
    if (diff.empty()) return;
    std::vector<Value> ks;
    for (auto& [k, w] : diff) ks.push_back(k);
    const auto moving = pending(t, ks);
    for (auto& [k, w] : diff) {
      std::string kt;
      canonical(k, kt);
      if (moving.count(kt)) {
        ++out.in_flight;
        continue;
      }
      ++out.difference_count;
      if (out.differences.size() < 100) out.differences.push_back({t, key_label(k), w});
    }
  };
  std::set<std::string> misplaced;  // reported once, not again by the second pass
  for (const auto& t : st.tables) {
    for (std::size_t m = 0; m < from.members.size(); ++m)
      I.each_key_page(*from.members[m], t, [&](const std::vector<Value>& keys) {
        std::vector<Value> placed;
        for (const auto& k : keys) {
          if (from.place(k) == m) {
            placed.push_back(k);
            continue;
          }
          // A row the old layout would never read (written around the group).
          std::string kt;
          canonical(k, kt);
          misplaced.insert(t + '\x1e' + kt);
          ++out.keys_compared;
          ++out.difference_count;
          if (out.differences.size() < 100)
            out.differences.push_back({t, key_label(k), "on " + from.names[m] + ", where the old layout does not place it (it "
                                                        "places it on " + from.names[from.place(k)] + ")"});
        }
        judge(t, placed);
      });
    // Keys the new layout has that the old one has not (the pass above saw the others).
    for (Connection* c : to.members)
      I.each_key_page(*c, t, [&](const std::vector<Value>& keys) {
        std::map<std::size_t, std::vector<Value>> by;
        for (const auto& k : keys) by[from.place(k)].push_back(k);
        std::vector<Value> extra;
        for (auto& [m, ks] : by) {
          std::set<std::string> there;
          for (Row row : from.members[m]->on_primary().table(t).select({Expr(I.key)}).distinct().where_in(I.key, ks).get()) {
            std::string kt;
            canonical(row[0], kt);
            there.insert(kt);
          }
          for (const auto& k : ks) {
            std::string kt;
            canonical(k, kt);
            if (!there.count(kt) && !misplaced.count(t + '\x1e' + kt)) extra.push_back(k);
          }
        }
        if (!extra.empty()) judge(t, extra);
      });
  }
  I.record({{"differences", static_cast<std::int64_t>(out.difference_count)}});
  return out;
}

ReshardStatus OnlineReshard::switch_traffic() {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "copied" && st.state != "switching")
    throw UsageError(I.where() + " is " + st.state + "; the switch runs once it is copied (plexus reshard start)");
  Lease lease(I);
  Impl::Side from = I.side(I.group), to = I.side(st.to_group);
  if (st.state == "copied") {
    // A migration run on one layout's members since the start would make
    // the copies disagree with the rows they copy: refused before any hold.
    for (const auto& t : st.tables) {
      try {
        detail::refuse_differing_migrations(I.db, *from.group, *to.group, t);
      } catch (const UsageError& e) {
        throw UsageError(I.where() + ": the switch did not start: " + e.message());
      }
    }
    // Carry until what is left is small, so that the pause is short.
    for (int round = 0; round < 50 && I.backlog(from, st.tables) > I.opts.switch_backlog; ++round) (void)I.drain(from, to, st.tables, st);
    // Changes made on the new layout after the switch are recorded too (for
    // reverse()); its fence stays sealed until the cut-over opens it.
    I.install_capture(to, st.tables, true);
  }
  st = I.cut_over(st, from, to, "switching", "switched");
  I.report(st);
  return st;
}

ReshardStatus OnlineReshard::reverse() {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "switched" && st.state != "reversing")
    throw UsageError(I.where() + " is " + st.state + "; reverse undoes a switch (state switched)");
  Lease lease(I);
  Impl::Side from = I.side(I.group), to = I.side(st.to_group);
  st = I.cut_over(st, to, from, "reversing", "copied");
  // The new layout stays sealed: a process that routed a write to it before
  // the reverse and sends it late is refused (and routed again), never
  // accepted where nothing serves. Carries open the fence for themselves.
  I.report(st);
  return st;
}

ReshardStatus OnlineReshard::complete(bool keep_source) {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "switched" && st.state != "complete")
    throw UsageError(I.where() + " is " + st.state + "; complete follows a switch (state switched)");
  Lease lease(I);
  Impl::Side from = I.side(I.group), to = I.side(st.to_group);
  // The configuration may have changed since the start (the group listing
  // the new members already): deleting the old rows must not reach them.
  if (!keep_source)
    I.refuse_shared_members(from, to, "deleting the old layout's rows would delete rows the new layout serves; "
                            "nothing was done. Run complete with the configuration of the start (or keep_source)");
  I.drop_capture(to, st.tables);
  I.drop_capture(from, st.tables);
  if (!keep_source)
    for (const auto& t : st.tables)
      for (Connection* c : from.members) (void)c->on_primary().table(t).all_rows().remove();
  if (st.state != "complete") st = I.transition(st, {{"state", "complete"}});
  I.report(st);
  return st;
}

ReshardStatus OnlineReshard::cancel() {
  Impl& I = *m_impl;
  ReshardStatus st = I.current();
  if (st.state != "copying" && st.state != "copied")
    throw UsageError(I.where() + " is " + st.state + "; cancel undoes a reshard before its switch (after one, reverse it first)");
  Lease lease(I);
  Impl::Side from = I.side(I.group), to = I.side(st.to_group);
  I.refuse_shared_members(from, to, "deleting the copies would delete rows the old layout serves; nothing was done. "
                          "Run cancel with the configuration of the start");
  I.drop_capture(from, st.tables);
  I.drop_capture(to, st.tables);
  // The new layout's databases hold nothing but the copies (start() refuses a shared member).
  for (const auto& t : st.tables)
    for (Connection* c : to.members) (void)c->on_primary().table(t).all_rows().remove();
  st = I.transition(st, {{"state", "cancelled"}});
  I.report(st);
  return st;
}

// ---- reports -------------------------------------------------------------------

std::string ReshardStatus::to_string() const {
  if (state.empty()) return "no online reshard of " + group + " (it serves itself)\n";
  std::string s = "online reshard of " + group + " to " + to_group + " (" + [&] {
    std::string t;
    for (const auto& x : tables) t += (t.empty() ? "" : ", ") + x;
    return t;
  }() + "): " + state + "\n";
  s += "  serving: " + serving + (writes_held ? " (writes held)" : "") + ", version " + std::to_string(version) + "\n";
  s += "  rows copied: " + std::to_string(rows_copied) + ", keys caught up: " + std::to_string(keys_caught_up) +
       ", changes waiting: " + std::to_string(backlog) + "\n";
  s += "  differences at the last verify: " + (differences < 0 ? std::string("not verified") : std::to_string(differences)) + "\n";
  if (last_pause_ms >= 0) s += "  writes held at the last switch: " + std::to_string(last_pause_ms) + " ms\n";
  s += "  updated: " + updated + "\n";
  return s;
}

std::string ReshardStatus::to_json() const {
  nlohmann::json j{{"group", group},
                   {"to_group", to_group},
                   {"tables", tables},
                   {"state", state},
                   {"serving", serving},
                   {"writes_held", writes_held},
                   {"version", version},
                   {"rows_copied", rows_copied},
                   {"keys_caught_up", keys_caught_up},
                   {"backlog", backlog},
                   {"differences", differences},
                   {"last_pause_ms", last_pause_ms},
                   {"updated", updated}};
  return j.dump(2);
}

std::string ReshardVerification::to_string() const {
  std::string s = std::to_string(keys_compared) + " keys and " + std::to_string(rows_compared) + " rows compared: " +
                  (ok() ? std::string("no differences") : std::to_string(difference_count) + " difference(s)") +
                  (in_flight ? ", " + std::to_string(in_flight) + " key(s) in flight" : std::string()) + "\n";
  for (const auto& d : differences) s += "  " + d.table + " key " + d.key + ": " + d.what + "\n";
  return s;
}

std::string ReshardVerification::to_json() const {
  nlohmann::json j{{"keys_compared", keys_compared}, {"rows_compared", rows_compared}, {"in_flight", in_flight},
                   {"difference_count", difference_count}, {"differences", nlohmann::json::array()}};
  for (const auto& d : differences) j["differences"].push_back({{"table", d.table}, {"key", d.key}, {"what", d.what}});
  return j.dump(2);
}

}  // namespace plexus

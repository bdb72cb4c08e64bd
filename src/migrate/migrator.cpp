#include "plexus/driver/engine.hpp"
#include "plexus/migrate/migrator.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "db/task_pool.hpp"
#include "migrate/sql_split.hpp"
#include "plexus/core/error.hpp"
#include "plexus/query/builder.hpp"
#include "tx/table_lock.hpp"
#include "core/utc.hpp"

namespace plexus {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kLedger = "plexus_migrations";

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ConfigError("cannot read migration file '" + p.string() + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// FNV-1a over the bytes: detects an edited file (not a security measure).
std::string checksum(std::string_view bytes) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

using detail::utc_now;

/// `NNNN_name.up.sql`, `NNNN_name.down.postgres.sql`, … parsed.
struct FileName {
  std::int64_t version = 0;
  std::string name, direction, engine;
};

std::optional<FileName> parse_name(const std::string& file) {
  if (file.size() < 5 || file.substr(file.size() - 4) != ".sql") return std::nullopt;
  std::string stem = file.substr(0, file.size() - 4);
  const auto us = stem.find('_');
  if (us == std::string::npos || us == 0) return std::nullopt;
  FileName f;
  const auto [p, ec] = std::from_chars(stem.data(), stem.data() + us, f.version);
  if (ec != std::errc{} || p != stem.data() + us || f.version <= 0) return std::nullopt;
  std::vector<std::string> parts;
  std::size_t from = us + 1;
  while (from <= stem.size()) {
    const auto dot = std::min(stem.find('.', from), stem.size());
    parts.push_back(stem.substr(from, dot - from));
    from = dot + 1;
  }
  if (parts.size() < 2 || parts.size() > 3 || (parts[1] != "up" && parts[1] != "down")) return std::nullopt;
  f.name = parts[0];
  f.direction = parts[1];
  if (parts.size() == 3) f.engine = parts[2];
  if (f.name.empty() || !std::all_of(f.name.begin(), f.name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
      }))
    return std::nullopt;
  return f;
}

std::string pad(std::int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(v));
  return buf;
}

struct Applied {
  std::string name, checksum, applied_at;
};

/// The ledger's rows by version; empty when the table does not exist yet.
std::map<std::int64_t, Applied> ledger(Connection& conn, bool create) {
  if (create)
    conn.execute("CREATE TABLE IF NOT EXISTS plexus_migrations (version BIGINT PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                 "checksum VARCHAR(32) NOT NULL, applied_at VARCHAR(40) NOT NULL, execution_ms BIGINT NOT NULL)");
  std::map<std::int64_t, Applied> out;
  Result rows;
  try {
    rows = conn.on_primary().table(kLedger).select({"version", "name", "checksum", "applied_at"}).order_by("version").get();
  } catch (const Error& e) {
    if (create || !e.is_syntax()) throw;
    return out;  // no ledger yet: nothing applied
  }
  for (std::size_t i = 0; i < rows.size(); ++i)
    out[rows[i][0].as<std::int64_t>()] = {rows[i][1].as<std::string>(), rows[i][2].as<std::string>(),
                                          rows[i][3].as<std::string>()};
  return out;
}

/// Refuses to go on past an applied file that was edited or deleted, unless forced.
std::string drift(const std::vector<MigrationFile>& files, const std::map<std::int64_t, Applied>& applied) {
  std::string out;
  for (const auto& [version, a] : applied) {
    auto it = std::find_if(files.begin(), files.end(), [v = version](const MigrationFile& f) { return f.version == v; });
    if (it == files.end())
      out += (out.empty() ? "" : "; ") + pad(version) + "_" + a.name + " is applied but its file is gone";
    else if (it->checksum != a.checksum)
      out += (out.empty() ? "" : "; ") + it->up.filename().string() + " was edited after it was applied (checksum " +
             a.checksum + " then, " + it->checksum + " now)";
  }
  return out;
}

std::int64_t version_of(const std::map<std::int64_t, Applied>& applied) {
  return applied.empty() ? 0 : applied.rbegin()->first;
}

}  // namespace

std::string MigrationFile::label() const { return pad(version) + "_" + name; }

std::string_view to_string(MigrationTarget::State s) noexcept {
  switch (s) {
    case MigrationTarget::State::done: return "done";
    case MigrationTarget::State::failed: return "failed";
    case MigrationTarget::State::untouched: return "untouched";
  }
  return "?";
}

bool MigrationReport::ok() const noexcept { return count(MigrationTarget::State::failed) == 0; }

std::size_t MigrationReport::count(MigrationTarget::State s) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(targets.begin(), targets.end(), [s](const MigrationTarget& t) { return t.state == s; }));
}

std::string MigrationReport::to_string() const {
  std::string out;
  for (const auto& t : targets) {
    out += t.connection + ": " + std::string(plexus::to_string(t.state)) + ", at version " + std::to_string(t.version);
    if (!t.applied.empty()) {
      out += " (";
      for (std::size_t i = 0; i < t.applied.size(); ++i) out += (i ? ", " : "") + t.applied[i];
      out += ")";
    }
    if (!t.error.empty()) out += "\n  " + t.error;
    out += "\n";
  }
  out += std::to_string(count(MigrationTarget::State::done)) + " done, " +
         std::to_string(count(MigrationTarget::State::failed)) + " failed, " +
         std::to_string(count(MigrationTarget::State::untouched)) + " untouched\n";
  return out;
}

Migrator::Migrator(ConnectionRegistry& db) : m_db(db) {}

std::vector<std::string> Migrator::configured() const {
  std::vector<std::string> out;
  for (const auto& c : m_db.config().connections)
    if (!c.migrations.empty()) out.push_back(c.name);
  return out;
}

std::vector<MigrationFile> Migrator::files(std::string_view connection) const {
  Connection& conn = m_db.connection(connection);
  const auto& cfg = conn.config();
  const std::string where = "connection '" + cfg.name + "'";
  if (cfg.migrations.empty())
    throw ConfigError(where + " has no migrations folder: set `migrations = \"path\"` in its configuration");
  const fs::path dir = cfg.migrations;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw ConfigError(where + ": migrations folder '" + dir.string() + "' does not exist (create it, or run plexus make)");
  struct Found {
    std::string name;
    fs::path up, down, up_engine, down_engine;
  };
  std::map<std::int64_t, Found> by_version;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string file = entry.path().filename().string();
    if (file.size() < 4 || file.substr(file.size() - 4) != ".sql") continue;
    const auto f = parse_name(file);
    if (!f)
      throw ConfigError(where + ": '" + (dir / file).string() +
                        "' is not named NNNN_name.up.sql or NNNN_name.down.sql (optionally .up.<engine>.sql)");
    if (!f->engine.empty() && !m_db.engines().find(f->engine))
      throw ConfigError(where + ": '" + (dir / file).string() + "' names an unknown engine '" + f->engine + "'");
    const bool mine = f->engine.empty() || m_db.engines().find(f->engine) == m_db.engines().find(conn.type());
    auto& slot = by_version[f->version];
    if (!slot.name.empty() && slot.name != f->name)
      throw ConfigError(where + ": version " + pad(f->version) + " is used twice ('" + slot.name + "' and '" + f->name +
                        "'); give each migration its own number");
    slot.name = f->name;
    if (!mine) continue;
    fs::path& target = f->direction == "up" ? (f->engine.empty() ? slot.up : slot.up_engine)
                                            : (f->engine.empty() ? slot.down : slot.down_engine);
    target = entry.path();
  }
  std::vector<MigrationFile> out;
  std::int64_t expect = 1;
  for (auto& [version, f] : by_version) {
    if (version != expect)
      throw ConfigError(where + ": migration numbers must run 1, 2, 3… without gaps: " + pad(expect) +
                        " is missing before " + pad(version) + "_" + f.name);
    ++expect;
    MigrationFile m;
    m.version = version;
    m.name = f.name;
    m.up = f.up_engine.empty() ? f.up : f.up_engine;
    m.down = f.down_engine.empty() ? f.down : f.down_engine;
    if (m.up.empty())
      throw ConfigError(where + ": " + m.label() + " has no up file for engine " + conn.type() + " in '" + dir.string() + "'");
    m.checksum = checksum(read_file(m.up));
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<MigrationState> Migrator::status(std::string_view connection) {
  const auto found = files(connection);
  const auto applied = ledger(m_db.connection(connection), false);
  std::vector<MigrationState> out;
  for (const auto& f : found) {
    MigrationState s;
    s.version = f.version;
    s.name = f.name;
    if (auto it = applied.find(f.version); it != applied.end()) {
      s.applied = true;
      s.applied_at = it->second.applied_at;
      s.changed = it->second.checksum != f.checksum;
    }
    out.push_back(std::move(s));
  }
  for (const auto& [version, a] : applied)
    if (std::none_of(found.begin(), found.end(), [v = version](const MigrationFile& f) { return f.version == v; }))
      out.push_back(MigrationState{version, a.name, true, a.applied_at, false, true});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return out;
}

namespace {

/// Runs one file on `conn` (in a transaction where DDL is transactional) and
/// records it in (or removes it from) the ledger. Returns "" or the error.
std::string run_file(Connection& conn, const fs::path& file, const MigrationFile& m, bool up,
                     const driver::Capabilities& caps) {
  const bool transactional_ddl = caps.transactional_ddl;
  const auto statements = detail::split_sql(read_file(file), conn.grammar().syntax());
  std::size_t done = 0;
  const auto started = Clock::now();
  auto record = [&](Queryable& q) {
    if (up) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      q.table(kLedger).insert({{"version", m.version}, {"name", m.name}, {"checksum", m.checksum},
                               {"applied_at", utc_now()}, {"execution_ms", static_cast<std::int64_t>(ms)}});
    } else {
      q.table(kLedger).where("version", m.version).remove();
    }
  };
  auto run_all = [&](Queryable& q) {
    for (const auto& s : statements) {
      try {
        (void)q.execute_script(s.sql);
      } catch (const Error& e) {
        std::string why = file.string() + ":" + std::to_string(s.line) + ": " + e.message();
        if (!transactional_ddl && done > 0)
          why += " (" + conn.type() + " has no transactional DDL: the " + std::to_string(done) +
                 " statement(s) before it in this file stayed applied and are not rolled back; complete or undo "
                 "them by hand, then run again)";
        else
          why += transactional_ddl ? " (rolled back: nothing of this file stayed applied)" : "";
        throw UsageError(why);  // carried out of the transaction, reported as the target's error
      }
      ++done;
    }
    record(q);
  };
  try {
    if (transactional_ddl) conn.transaction([&](Transaction& tx) { run_all(tx); });
    else run_all(conn);
  } catch (const UsageError& e) {
    return e.message();
  } catch (const Error& e) {
    return file.string() + ": " + e.message();
  }
  return {};
}

}  // namespace

MigrationTarget Migrator::migrate(std::string_view connection, const MigrateOptions& opts) {
  MigrationTarget t;
  t.connection = std::string(connection);
  const auto found = files(connection);  // configuration mistakes throw before anything runs
  Connection& conn = m_db.connection(connection);
  const auto caps = m_db.engines().get(conn.type()).capabilities();
  try {
    if (opts.dry_run) {
      const auto applied = ledger(conn, false);
      t.version = version_of(applied);
      if (auto d = drift(found, applied); !d.empty() && !opts.force) {
        t.state = MigrationTarget::State::failed;
        t.error = d + "; nothing was run (pass --force to go on)";
        return t;
      }
      for (const auto& f : found) {
        if (applied.contains(f.version) || (opts.to && f.version > *opts.to)) continue;
        t.sql.push_back("-- " + f.up.string());
        for (const auto& s : detail::split_sql(read_file(f.up), conn.grammar().syntax())) t.sql.push_back(s.sql + ";");
        t.applied.push_back(f.label());
      }
      return t;
    }
    auto lock = detail::TableLock::take(conn, "plexus_migrations", std::chrono::hours(1), opts.lock_wait);
    if (!lock) {
      t.state = MigrationTarget::State::failed;
      t.error = "another migrator holds the migration lock of connection '" + t.connection + "' (waited " +
                std::to_string(opts.lock_wait.count()) + " ms); nothing was run";
      return t;
    }
    auto applied = ledger(conn, true);
    t.version = version_of(applied);
    if (auto d = drift(found, applied); !d.empty()) {
      if (!opts.force) {
        t.state = MigrationTarget::State::failed;
        t.error = d + "; nothing was run (pass --force to go on and record the new checksums)";
        return t;
      }
      for (const auto& f : found)
        if (applied.contains(f.version))
          conn.table(kLedger).where("version", f.version).update({{"checksum", f.checksum}});
    }
    for (const auto& f : found) {
      if (applied.contains(f.version) || (opts.to && f.version > *opts.to)) continue;
      if (opts.progress) opts.progress(t.connection, f.label());
      if (auto err = run_file(conn, f.up, f, true, caps); !err.empty()) {
        t.state = MigrationTarget::State::failed;
        t.error = err;
        return t;
      }
      t.applied.push_back(f.label());
      t.version = f.version;
    }
    t.state = t.applied.empty() ? MigrationTarget::State::untouched : MigrationTarget::State::done;
  } catch (const Error& e) {
    t.state = MigrationTarget::State::failed;
    t.error = e.what();
  }
  return t;
}

MigrationTarget Migrator::rollback(std::string_view connection, unsigned steps, const MigrateOptions& opts) {
  MigrationTarget t;
  t.connection = std::string(connection);
  const auto found = files(connection);
  Connection& conn = m_db.connection(connection);
  const auto caps = m_db.engines().get(conn.type()).capabilities();
  try {
    auto lock = opts.dry_run ? std::optional<detail::TableLock>()
                             : detail::TableLock::take(conn, "plexus_migrations", std::chrono::hours(1), opts.lock_wait);
    if (!opts.dry_run) {
      if (!lock) {
        t.state = MigrationTarget::State::failed;
        t.error = "another migrator holds the migration lock of connection '" + t.connection + "'; nothing was run";
        return t;
      }
    }
    auto applied = ledger(conn, !opts.dry_run);
    t.version = version_of(applied);
    for (unsigned k = 0; k < steps && !applied.empty(); ++k) {
      const std::int64_t v = applied.rbegin()->first;
      auto it = std::find_if(found.begin(), found.end(), [v](const MigrationFile& f) { return f.version == v; });
      if (it == found.end() || it->down.empty()) {
        t.state = MigrationTarget::State::failed;
        t.error = pad(v) + "_" + applied.rbegin()->second.name + " has no down file: it cannot be rolled back";
        return t;
      }
      if (opts.dry_run) {
        t.sql.push_back("-- " + it->down.string());
        for (const auto& s : detail::split_sql(read_file(it->down), conn.grammar().syntax())) t.sql.push_back(s.sql + ";");
      } else {
        if (opts.progress) opts.progress(t.connection, "revert " + it->label());
        if (auto err = run_file(conn, it->down, *it, false, caps); !err.empty()) {
          t.state = MigrationTarget::State::failed;
          t.error = err;
          return t;
        }
      }
      t.applied.push_back(it->label());
      applied.erase(v);
      t.version = version_of(applied);
    }
    t.state = t.applied.empty() || opts.dry_run ? MigrationTarget::State::untouched : MigrationTarget::State::done;
  } catch (const Error& e) {
    t.state = MigrationTarget::State::failed;
    t.error = e.what();
  }
  return t;
}

MigrationReport Migrator::migrate_all(std::span<const std::string> connections, const MigrateOptions& opts,
                                      std::size_t parallelism) {
  MigrationReport report;
  report.targets.resize(connections.size());
  for (const auto& c : connections) (void)files(c);  // every folder checked before anything runs
  detail::TaskPool pool(std::max<std::size_t>(1, parallelism));
  std::vector<std::function<void()>> tasks;
  for (std::size_t i = 0; i < connections.size(); ++i)
    tasks.emplace_back([&, i] {
      report.targets[i] = migrate(connections[i], opts);
      if (opts.progress) opts.progress(connections[i], std::string(to_string(report.targets[i].state)));
    });
  const auto errors = pool.run_all(tasks);
  for (std::size_t i = 0; i < errors.size(); ++i)
    if (errors[i]) {
      report.targets[i].connection = connections[i];
      report.targets[i].state = MigrationTarget::State::failed;
      try {
        std::rethrow_exception(errors[i]);
      } catch (const std::exception& e) {
        report.targets[i].error = e.what();
      }
    }
  return report;
}

fs::path Migrator::make(std::string_view connection, std::string_view name) {
  Connection& conn = m_db.connection(connection);
  const auto& cfg = conn.config();
  if (cfg.migrations.empty())
    throw ConfigError("connection '" + cfg.name + "' has no migrations folder: set `migrations = \"path\"` first");
  std::string clean;
  for (char c : name) clean += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  if (clean.empty() || std::all_of(clean.begin(), clean.end(), [](char c) { return c == '_'; }))
    throw UsageError("a migration needs a name made of letters and digits");
  fs::create_directories(cfg.migrations);
  const auto existing = files(connection);
  const std::int64_t next = existing.empty() ? 1 : existing.back().version + 1;
  const fs::path up = fs::path(cfg.migrations) / (pad(next) + "_" + clean + ".up.sql");
  const fs::path down = fs::path(cfg.migrations) / (pad(next) + "_" + clean + ".down.sql");
  std::ofstream(up) << "-- " << pad(next) << "_" << clean << ": applied by plexus migrate\n";
  std::ofstream(down) << "-- " << pad(next) << "_" << clean << ": reverts the up file (plexus rollback)\n";
  return up;
}

}  // namespace plexus

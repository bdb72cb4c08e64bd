// The engine contract's shared parts: Session defaults, Engine defaults,
// typed options and the registry of engines.
#include "plexus/driver/driver.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "driver/builtin_engines.hpp"
#include "plexus/core/error.hpp"
#include "plexus/driver/engine.hpp"

namespace plexus::driver {

// ---- AsyncSession defaults -------------------------------------------------------

AsyncSession::Wait AsyncSession::start_batch(std::string_view, std::span<const std::vector<Value>>) {
  throw UsageError("this engine's sessions do not pipeline batches: run each statement with start() and take()");
}
AsyncSession::Wait AsyncSession::start_stream(std::string_view, std::span<const Value>) {
  throw UsageError("this engine's sessions do not stream on their non-blocking side: use the blocking stream()");
}
bool AsyncSession::take_rows(Result&) { throw UsageError("no stream was started on this session: start_stream() first"); }
std::vector<Result> AsyncSession::take_batch() {
  throw UsageError("no batch was started on this session: start_batch() first");
}

// ---- Session defaults ------------------------------------------------------------

std::vector<Result> Session::execute_batch(std::string_view sql, std::span<const std::vector<Value>> sets) {
  std::vector<Result> out;
  out.reserve(sets.size());
  for (const auto& params : sets) out.push_back(execute(sql, params));
  return out;
}

std::uint64_t Session::execute_each(std::string_view sql, std::span<const Value> params, const RowVisitor& visit) {
  return visit_rows(execute(sql, params), visit);
}

std::uint64_t Session::visit_rows(const Result& r, const RowVisitor& visit) {
  if (r.columns().size() == 0) return r.affected_rows();
  std::uint64_t n = 0;
  for (Row row : r) {
    ++n;
    if (!visit(row)) break;
  }
  return n;
}

std::uint64_t Session::execute_script(std::string_view) {
  throw UsageError("the " + std::string(engine()) + " engine does not run scripts: run the statements one by one");
}

void Session::savepoint(std::string_view name) { execute("SAVEPOINT " + std::string(name), {}); }
void Session::release_savepoint(std::string_view name) { execute("RELEASE SAVEPOINT " + std::string(name), {}); }
void Session::rollback_to_savepoint(std::string_view name) {
  execute("ROLLBACK TO SAVEPOINT " + std::string(name), {});
}

bool Session::alive() noexcept { return healthy(); }

std::string_view to_string(Isolation i) noexcept {
  switch (i) {
    case Isolation::engine_default: return "the engine's default";
    case Isolation::read_uncommitted: return "READ UNCOMMITTED";
    case Isolation::read_committed: return "READ COMMITTED";
    case Isolation::repeatable_read: return "REPEATABLE READ";
    case Isolation::serializable: return "SERIALIZABLE";
  }
  return "?";
}

std::vector<std::string> Session::transaction_sql(TxStep, const TransactionSpec&) const { return {}; }

void Session::begin(const TransactionSpec& spec) {
  if (!spec.plain())
    throw UsageError("the " + std::string(engine()) + " engine takes no isolation level or read-only transaction");
  begin();
}

namespace {
[[noreturn]] void no_two_phase(std::string_view engine) {
  throw UsageError("the " + std::string(engine) +
                   " engine cannot prepare a transaction, so it cannot take part in a two-phase commit");
}
}  // namespace

std::string Session::xa_statement(XaStep step, const Xid& xid) const {
  switch (step) {
    case XaStep::begin: return "BEGIN (branch " + xid.to_string() + ")";
    case XaStep::prepare: return "PREPARE (branch " + xid.to_string() + ")";
    case XaStep::commit: return "COMMIT (prepared branch " + xid.to_string() + ")";
    case XaStep::rollback: return "ROLLBACK (branch " + xid.to_string() + ")";
    case XaStep::rollback_prepared: return "ROLLBACK (prepared branch " + xid.to_string() + ")";
  }
  return {};
}

void Session::xa_begin(const Xid&, const TransactionSpec&) { no_two_phase(engine()); }
void Session::xa_prepare(const Xid&) { no_two_phase(engine()); }
void Session::xa_commit(const Xid&) { no_two_phase(engine()); }
void Session::xa_rollback(const Xid&, bool) { no_two_phase(engine()); }
std::vector<Xid> Session::xa_recover(std::string_view) { return {}; }
bool Session::key_is_row_id(std::string_view, std::string_view, std::string_view) { return false; }
std::optional<std::string> Session::replication_position() { return std::nullopt; }
bool Session::wait_for_position(const std::string&, std::chrono::milliseconds) { return true; }
std::optional<std::chrono::milliseconds> Session::replica_lag() { return std::nullopt; }
Session::NodeRole Session::node_role() { return NodeRole::writable; }
std::optional<ConsoleCommand> Engine::console(const ConnectionConfig&, const Endpoint*) const { return std::nullopt; }
std::optional<CatalogQueries> Engine::catalog() const { return std::nullopt; }
std::vector<std::pair<std::string, std::string>> Engine::read_collations(const Result& r) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (Row row : r) out.emplace_back(row[0].to_string(), row[1].is_null() ? std::string() : row[1].to_string());
  return out;
}
TextRules Engine::text_rules(std::string_view) const { return {}; }
bool Session::serves_reads() { return true; }
std::optional<std::string> Session::refuses_two_phase_commit() { return std::nullopt; }

// ---- Engine defaults -------------------------------------------------------------

void Engine::validate(const ConnectionConfig& cfg, const Options&) const {
  if (capabilities().server && cfg.hosts.empty())
    throw ConfigError(cfg.where() + ": no host given (set host = \"…\", or a url: " + std::string(name()) +
                      "://[user[:password]@]host[:port]/database)");
  if (!capabilities().server && cfg.database.empty())
    throw ConfigError(cfg.where() + ": no database given (the " + std::string(name()) + " engine needs a path)");
  if (!capabilities().server && (!cfg.hosts.empty() || !cfg.read_hosts.empty()))
    throw ConfigError(cfg.where() + ": the " + std::string(name()) +
                      " engine opens a file: hosts and read_hosts do not apply (remove them)");
}

std::unique_ptr<PendingSession> Engine::connect_start(const Target&) const { return nullptr; }

std::string Engine::describe(const ConnectionConfig& cfg, const Endpoint* host) const {
  return host ? host->to_string() : cfg.database;
}

bool Engine::shareable(const ConnectionConfig&) const { return true; }

void Engine::not_in_this_build(const Target& t, std::string_view package) const {
  std::string option = "PLEXUS_WITH_";
  for (char c : name()) option += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  throw ConfigError(t.config.where() + ": the " + std::string(name()) + " engine is not compiled into this build (install " +
                    std::string(package) + " and rebuild with " + option + "=ON)");
}

std::optional<std::string> Engine::missing(const ConnectionConfig&, const Endpoint*) const { return std::nullopt; }

// ---- typed options ---------------------------------------------------------------

namespace {

bool parse_flag(std::string_view v, bool& out) {
  const auto b = plexus::parse_flag(v);
  if (b) out = *b;
  return b.has_value();
}

std::string_view expected(const OptionSpec& s) {
  switch (s.type) {
    case OptionSpec::Type::flag: return "true or false";
    case OptionSpec::Type::integer: return "a whole number";
    case OptionSpec::Type::milliseconds: return "whole milliseconds (a number, no unit)";
    case OptionSpec::Type::seconds: return "whole seconds (a number, no unit)";
    case OptionSpec::Type::text: return "text";
    case OptionSpec::Type::choice: return "one of the listed values";
  }
  return "?";
}

}  // namespace

Options Options::parse(const ConnectionConfig& cfg, std::span<const OptionSpec> specs, std::string_view engine) {
  Options out;
  auto fail = [&](std::string_view key, const std::string& problem) {
    throw ConfigError(cfg.where(key) + ": " + problem);
  };
  for (const auto& option : cfg.options) {
    const std::string& key = option.first;
    const std::string& raw = option.second;
    auto spec = std::find_if(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == key; });
    if (spec == specs.end()) {
      std::string known;
      for (const auto& s : specs) known += (known.empty() ? "" : ", ") + std::string(s.name);
      std::string generic;
      for (auto k : connection_keys()) generic += (generic.empty() ? "" : ", ") + std::string(k);
      fail(key, "unknown key for a " + std::string(engine) + " connection (known: " + generic +
                    (known.empty() ? std::string() : "; " + std::string(engine) + " options: " + known) + ")");
    }
    std::string value = raw;
    switch (spec->type) {
      case OptionSpec::Type::flag: {
        bool b = false;
        if (!parse_flag(raw, b)) fail(key, "expected true or false, got '" + raw + "'");
        value = b ? "true" : "false";
        break;
      }
      case OptionSpec::Type::integer:
      case OptionSpec::Type::milliseconds:
      case OptionSpec::Type::seconds: {
        std::int64_t n = 0;
        auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), n);
        if (raw.empty() || ec != std::errc{} || p != raw.data() + raw.size())
          fail(key, "expected " + std::string(expected(*spec)) + ", got '" + raw + "'");
        if (n < spec->min || n > spec->max)
          fail(key, "must be between " + std::to_string(spec->min) + " and " + std::to_string(spec->max) + ", got " + raw);
        value = std::to_string(n);
        break;
      }
      case OptionSpec::Type::choice: {
        if (std::find(spec->choices.begin(), spec->choices.end(), raw) == spec->choices.end()) {
          std::string list;
          for (auto c : spec->choices) list += (list.empty() ? "" : ", ") + std::string(c);
          fail(key, "'" + raw + "' is not one of: " + list);
        }
        break;
      }
      case OptionSpec::Type::text: break;
    }
    out.m_values[key] = std::move(value);
    out.m_given.push_back(key);
  }
  for (const auto& s : specs)
    if (!out.m_values.contains(s.name) && !s.default_value.empty()) out.m_values.emplace(s.name, s.default_value);
  return out;
}

bool Options::given(std::string_view name) const {
  return std::find(m_given.begin(), m_given.end(), name) != m_given.end();
}

const std::string& Options::text(std::string_view name) const {
  auto it = m_values.find(name);
  if (it == m_values.end())
    throw UsageError("engine option '" + std::string(name) + "' has no value and no default (a bug in its engine)");
  return it->second;
}

bool Options::flag(std::string_view name) const { return text(name) == "true"; }

std::int64_t Options::integer(std::string_view name) const {
  const std::string& t = text(name);
  std::int64_t n = 0;
  std::from_chars(t.data(), t.data() + t.size(), n);
  return n;
}

std::chrono::milliseconds Options::milliseconds(std::string_view name) const {
  return std::chrono::milliseconds(integer(name));
}

// ---- registry ----------------------------------------------------------------------

const EngineRegistry& EngineRegistry::builtin() {
  static const EngineRegistry r = [] {
    EngineRegistry reg;
    // Built-in engines are static objects: the registry does not own them.
    for (const Engine* e : builtin_engines()) reg.add(std::shared_ptr<const Engine>(e, [](const Engine*) {}));
    return reg;
  }();
  return r;
}

void EngineRegistry::add(std::shared_ptr<const Engine> engine) {
  if (!engine) throw ConfigError("an engine to add is null");
  auto taken = [&](std::string_view n) {
    if (const Engine* other = find(n))
      throw ConfigError("engine '" + std::string(engine->name()) + "': the name '" + std::string(n) +
                        "' is already taken by engine '" + std::string(other->name()) + "'");
  };
  taken(engine->name());
  for (auto a : engine->aliases()) taken(a);
  m_engines.push_back(std::move(engine));
}

const Engine* EngineRegistry::find(std::string_view name) const noexcept {
  for (const auto& e : m_engines) {
    if (e->name() == name) return e.get();
    for (auto a : e->aliases())
      if (a == name) return e.get();
  }
  return nullptr;
}

const Engine& EngineRegistry::get(std::string_view name) const {
  if (const Engine* e = find(name)) return *e;
  std::string list;
  for (const auto& e : m_engines) {
    list += (list.empty() ? "" : ", ") + std::string(e->name());
    for (auto a : e->aliases()) list += "/" + std::string(a);
  }
  throw ConfigError("unknown engine '" + std::string(name) + "' (known: " + list + ")");
}

std::vector<std::string_view> EngineRegistry::names() const {
  std::vector<std::string_view> out;
  for (const auto& e : m_engines) out.push_back(e->name());
  return out;
}

}  // namespace plexus::driver

#include "output.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>

#include "plexus/driver/engine.hpp"

namespace plexus::cli {
namespace {

/// Decodes one UTF-8 sequence at s[i]; returns its length (0 when invalid).
std::size_t utf8_length(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? b : n == 2 ? (b & 0x1f) : n == 3 ? (b & 0x0f) : (b & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  // Overlong forms and surrogates are not valid UTF-8.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/// Terminal columns of one code point (East Asian wide and emoji: 2; combining marks: 0).
std::size_t columns_of(char32_t cp) {
  if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd))
    return 2;
  return 1;
}

/// Escapes control characters and invalid UTF-8; valid text passes unchanged.
std::string escaped(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_length(s, i, cp);
    const char c = s[i];
    if (n == 0) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      ++i;
      continue;
    }
    if (n == 1 && (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default: out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      }
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_length(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

}  // namespace

nlohmann::json text_json(std::string_view s) {
  if (valid_utf8(s)) return std::string(s);
  return {{"text_hex", hex(s)}};
}

std::string dump(const nlohmann::json& j) { return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace); }

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_length(s, i, cp);
    if (n == 0) {
      ++w;
      ++i;
      continue;
    }
    w += columns_of(cp);
    i += n;
  }
  return w;
}

std::string cell_text(const Value& v) {
  if (v.is_null()) return "NULL";
  if (v.type() != Value::Type::text) return escaped(v.to_string());
  const std::string& t = v.raw_text();
  const std::string e = escaped(t);
  const bool ambiguous = t == "NULL" || t.empty() || t.front() == ' ' || t.back() == ' ' || t.front() == '"' ||
                         e != t;
  if (!ambiguous) return t;
  std::string q = "\"";
  for (char c : e) q += c == '"' ? std::string("\\\"") : std::string(1, c);
  return q + "\"";
}

std::string human_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void print_grid(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = display_width(header[c]);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], display_width(row[c]));
  auto rule = [&] {
    out << "+";
    for (auto w : width) out << std::string(w + 2, '-') << "+";
    out << "\n";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    out << "|";
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string& text = c < cells.size() ? cells[c] : std::string();
      out << " " << text << std::string(width[c] - std::min(width[c], display_width(text)), ' ') << " |";
    }
    out << "\n";
  };
  rule();
  line(header);
  rule();
  for (const auto& row : rows) line(row);
  rule();
}

void print_table(std::ostream& out, const Result& r) {
  const auto& cols = r.columns();
  if (cols.size() == 0) {
    out << r.affected_rows() << " row(s) affected";
    if (auto id = r.last_insert_id(); id && r.affected_rows() > 0) out << ", last insert id " << *id;
    out << "\n";
    return;
  }
  std::vector<std::string> header;
  for (std::size_t c = 0; c < cols.size(); ++c) header.push_back(escaped(cols[c]));
  std::vector<std::vector<std::string>> rows;
  for (const Row row : r) {
    auto& line = rows.emplace_back();
    for (std::size_t c = 0; c < cols.size(); ++c) line.push_back(cell_text(row[c]));
  }
  print_grid(out, header, rows);
  out << r.size() << " row(s)\n";
}

nlohmann::json to_json(const Value& v) {
  switch (v.type()) {
    case Value::Type::null: return nullptr;
    case Value::Type::boolean: return v.raw_bool();
    case Value::Type::integer: return v.raw_int();
    case Value::Type::real: {
      // JSON numbers have no NaN or infinities: they are named, never null (SQL NULL's spelling).
      const double d = v.raw_real();
      if (std::isnan(d)) return {{"real", "NaN"}};
      if (std::isinf(d)) return {{"real", d > 0 ? "Infinity" : "-Infinity"}};
      return d;
    }
    case Value::Type::text: return text_json(v.raw_text());
    case Value::Type::bytes: {
      const auto& b = v.raw_bytes().data;
      return {{"bytes_hex", hex(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()))}};
    }
    default: return v.to_string();
  }
}

nlohmann::json to_json(const Result& r) {
  nlohmann::json columns = nlohmann::json::array();
  for (std::size_t c = 0; c < r.columns().size(); ++c) columns.push_back(text_json(r.columns()[c]));
  nlohmann::json rows = nlohmann::json::array();
  for (const Row row : r) {
    nlohmann::json line = nlohmann::json::array();
    for (std::size_t c = 0; c < row.size(); ++c) line.push_back(to_json(row[c]));
    rows.push_back(std::move(line));
  }
  nlohmann::json j = {{"columns", columns}, {"rows", rows}, {"affected_rows", r.affected_rows()}};
  if (auto id = r.last_insert_id()) j["last_insert_id"] = *id;
  return j;
}

nlohmann::json to_json(const ConnectionHealth& h) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& hh : h.hosts) {
    nlohmann::json j = {{"role", hh.role},
                        {"host", hh.host},
                        {"reachable", hh.reachable},
                        {"ejected", hh.ejected},
                        {"latency_us", hh.latency.count()},
                        {"pool", {{"open", hh.pool.open}, {"in_use", hh.pool.in_use}, {"idle", hh.pool.idle},
                                  {"max", hh.pool.max}, {"timeouts", hh.pool.timeouts}}}};
    if (hh.lag) j["lag_ms"] = hh.lag->count();
    if (!hh.server_version.empty()) j["server_version"] = hh.server_version;
    if (!hh.error.empty()) j["error"] = hh.error;
    if (!hh.created) j["created"] = false;
    if (!hh.note.empty()) j["note"] = hh.note;
    hosts.push_back(std::move(j));
  }
  return {{"name", h.name},       {"type", h.type},       {"status", h.status()},
          {"healthy", h.healthy}, {"primary_up", h.primary_up}, {"connected", h.connected}, {"hosts", hosts}};
}

nlohmann::json to_json(const Error& e) {
  nlohmann::json j = {{"kind", std::string(to_string(e.kind()))}, {"message", e.message()}};
  if (!e.connection().empty()) j["connection"] = e.connection();
  if (!e.host().empty()) j["host"] = e.host();
  if (!e.role().empty()) j["role"] = e.role();
  if (!e.sqlstate().empty()) j["sqlstate"] = e.sqlstate();
  if (e.engine_code() != 0) j["code"] = e.engine_code();
  if (e.is_connection_error()) j["failure"] = std::string(to_string(e.failure()));
  if (!e.hint().empty()) j["hint"] = e.hint();
  return {{"error", j}};
}

void print_health(std::ostream& out, const std::vector<ConnectionHealth>& all) {
  for (const auto& h : all) {
    out << fmt::format("{:<16} {:<9} {}\n", h.name, h.type, h.status());
    for (const auto& hh : h.hosts) {
      std::string extra = hh.lag ? fmt::format(", lag {} ms", hh.lag->count()) : std::string();
      if (!hh.created)
        out << fmt::format("  {:<8} {:<40} new  {}\n", hh.role, hh.host, hh.note);
      else if (hh.reachable)
        out << fmt::format("  {:<8} {:<40} ok   {:>8.3f} ms  {} ({}{})\n", hh.role, hh.host, hh.latency.count() / 1000.0,
                           hh.server_version, hh.pool.to_string(), extra);
      else
        out << fmt::format("  {:<8} {:<40} DOWN {}\n", hh.role, hh.host, hh.error);
    }
  }
}

nlohmann::json to_json(const PendingReport& r) {
  nlohmann::json branches = nlohmann::json::array();
  for (const auto& b : r.branches)
    branches.push_back({{"connection", b.connection},
                        {"global_id", b.global_id},
                        {"coordinator", b.coordinator},
                        {"decided_commit", b.decided_commit},
                        {"age_s", b.age.count()}});
  return {{"branches", branches}, {"unreachable", r.unreachable}};
}

void print_pending(std::ostream& out, const PendingReport& r) {
  if (r.branches.empty()) {
    out << "no prepared branch is waiting\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : r.branches)
      rows.push_back({b.connection, b.global_id, b.coordinator, b.decided_commit ? "commit" : "none (rolls back)",
                      std::to_string(b.age.count()) + " s"});
    print_grid(out, {"connection", "global id", "coordinator", "decision", "age"}, rows);
  }
  for (const auto& name : r.unreachable) out << "unreachable: " << name << " (not looked at)\n";
}

nlohmann::json to_json(const RecoveryReport& r, const std::string& coordinator) {
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : r.actions)
    actions.push_back({{"connection", a.connection},
                       {"global_id", a.global_id},
                       {"action", a.what == RecoveryAction::What::committed     ? "committed"
                                  : a.what == RecoveryAction::What::rolled_back ? "rolled_back"
                                                                                : "left"},
                       {"reason", a.reason}});
  return {{"coordinator", coordinator},
          {"committed", r.count(RecoveryAction::What::committed)},
          {"rolled_back", r.count(RecoveryAction::What::rolled_back)},
          {"left", r.count(RecoveryAction::What::left)},
          {"actions", actions},
          {"unreachable", r.unreachable},
          {"forgotten", r.forgotten}};
}

void print_recovery(std::ostream& out, const RecoveryReport& r, const std::string& coordinator) {
  out << fmt::format("recovery as coordinator '{}': {} committed, {} rolled back, {} left\n", coordinator,
                     r.count(RecoveryAction::What::committed), r.count(RecoveryAction::What::rolled_back),
                     r.count(RecoveryAction::What::left));
  if (!r.actions.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : r.actions) rows.push_back({a.connection, a.global_id, std::string(to_string(a.what)), a.reason});
    print_grid(out, {"connection", "global id", "action", "why"}, rows);
  }
  for (const auto& name : r.unreachable) out << "unreachable: " << name << " (its branches wait for the next recovery)\n";
  for (const auto& gid : r.forgotten) out << "decision dropped: " << gid << " (every participant committed)\n";
}

nlohmann::json to_json(const CopySummary& s) {
  nlohmann::json j = {{"rows_read", s.rows_read},       {"rows_written", s.rows_written},
                      {"rows_skipped", s.rows_skipped}, {"rows_deleted", s.rows_deleted},
                      {"batches", s.batches},           {"elapsed_ms", s.elapsed.count()}};
  if (s.verified)
    j["verify"] = {{"target_rows", s.target_rows},
                   {"source_checksum", s.source_checksum},
                   {"target_checksum", s.target_checksum},
                   {"equal", s.source_checksum == s.target_checksum}};
  return j;
}

void print_copy(std::ostream& out, const CopySummary& s) {
  out << fmt::format("{} rows read, {} written, {} skipped", s.rows_read, s.rows_written, s.rows_skipped);
  if (s.rows_deleted > 0) out << fmt::format(", {} deleted at the source", s.rows_deleted);
  out << fmt::format(" in {} batches, {} ms\n", s.batches, s.elapsed.count());
  if (s.verified)
    out << fmt::format("verify: {} rows at the target, checksums {} ({} / {})\n", s.target_rows,
                       s.source_checksum == s.target_checksum ? "equal" : "DIFFER", s.source_checksum,
                       s.target_checksum);
}

nlohmann::json to_json(const Metrics& m) {
  nlohmann::json families = nlohmann::json::array();
  for (const auto& f : m.families()) {
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& s : f.samples) {
      nlohmann::json labels = nlohmann::json::object();
      for (const auto& [k, v] : s.labels) labels[k] = v;
      samples.push_back({{"name", s.name}, {"labels", labels}, {"value", std::isnan(s.value) ? nlohmann::json() : nlohmann::json(s.value)}});
    }
    families.push_back({{"name", f.name}, {"type", f.type}, {"help", f.help}, {"samples", samples}});
  }
  return {{"metrics", families}};
}

nlohmann::json to_json(const MigrationReport& r) {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& t : r.targets) {
    nlohmann::json j{{"connection", t.connection}, {"state", std::string(to_string(t.state))}, {"version", t.version},
                     {"applied", t.applied}};
    if (!t.error.empty()) j["error"] = t.error;
    if (!t.sql.empty()) j["sql"] = t.sql;
    targets.push_back(std::move(j));
  }
  return {{"targets", targets},
          {"done", r.count(MigrationTarget::State::done)},
          {"failed", r.count(MigrationTarget::State::failed)},
          {"untouched", r.count(MigrationTarget::State::untouched)}};
}

nlohmann::json config_json(const Database& db) {
  const auto& cfg = db.config();
  auto endpoints = [](const std::vector<Endpoint>& list) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : list) a.push_back(e.to_string());
    return a;
  };
  nlohmann::json conns = nlohmann::json::array();
  for (const auto& c : cfg.connections) {
    const auto* engine = db.engines().find(c.driver);
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [k, v] : c.options) {
      bool secret = k.find("password") != std::string::npos;
      if (engine)
        for (const auto& spec : engine->options())
          if (spec.name == k && spec.secret) secret = true;
      options[k] = secret ? "***" : v;
    }
    nlohmann::json j{{"name", c.name},
                     {"engine", c.driver},
                     {"hosts", endpoints(c.hosts)},
                     {"database", c.database},
                     {"username", c.username},
                     {"password", c.password.empty() ? "" : "***"},
                     {"options", options},
                     {"read_hosts", endpoints(c.read_hosts)},
                     {"load_balance", c.load_balance},
                     {"sticky", c.sticky},
                     {"causal", c.causal},
                     {"max_replica_lag_ms", c.max_replica_lag.count()},
                     {"failover_wait_ms", c.failover_wait.count()},
                     {"read_only", c.read_only},
                     {"pool", {{"min", c.pool.min}, {"max", c.pool.max}, {"acquire_timeout_ms", c.pool.acquire_timeout.count()}}},
                     {"migrations", c.migrations}};
    if (!c.source.empty()) j["defined_in"] = c.source + " [" + c.section + "]";
    conns.push_back(std::move(j));
  }
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : cfg.shard_groups)
    groups.push_back({{"name", g.name}, {"members", g.members}, {"strategy", g.strategy}, {"key", g.key}});
  nlohmann::json out{{"default", cfg.default_connection},
                     {"max_connections", cfg.max_connections},
                     {"connections", conns},
                     {"shard_groups", groups},
                     {"transactions",
                      {{"coordinator", cfg.transactions.coordinator},
                       {"log_connection", cfg.transactions.log_connection},
                       {"log_file", cfg.transactions.log_file},
                       {"recover_on_start", cfg.transactions.recover_on_start}}}};
  // Defence in depth: a password copied into another field never shows
  // either. Only string values are masked: never a key, a number or a
  // literal that happens to be spelled like a password.
  const auto mask = [&](auto& self, nlohmann::json& j) -> void {
    if (j.is_string()) {
      std::string text = j.get<std::string>();
      if (cfg.redact(text)) j = text;
    } else if (j.is_structured()) {
      for (auto& item : j) self(self, item);
    }
  };
  mask(mask, out);
  return out;
}

}  // namespace plexus::cli

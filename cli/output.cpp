#include "output.hpp"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

namespace plexus::cli {

void print_table(std::ostream& out, const Result& r) {
  const auto& cols = r.columns();
  if (cols.size() == 0) {
    out << r.affected_rows() << " row(s) affected";
    if (auto id = r.last_insert_id(); id && r.affected_rows() > 0) out << ", last insert id " << *id;
    out << "\n";
    return;
  }
  std::vector<std::size_t> width(cols.size());
  for (std::size_t c = 0; c < cols.size(); ++c) width[c] = cols[c].size();
  std::vector<std::vector<std::string>> cells;
  for (const Row row : r) {
    auto& line = cells.emplace_back();
    for (std::size_t c = 0; c < cols.size(); ++c) {
      line.push_back(row[c].to_string());
      width[c] = std::max(width[c], line.back().size());
    }
  }
  auto rule = [&] {
    out << "+";
    for (auto w : width) out << std::string(w + 2, '-') << "+";
    out << "\n";
  };
  rule();
  out << "|";
  for (std::size_t c = 0; c < cols.size(); ++c) out << fmt::format(" {:<{}} |", cols[c], width[c]);
  out << "\n";
  rule();
  for (const auto& line : cells) {
    out << "|";
    for (std::size_t c = 0; c < line.size(); ++c) out << fmt::format(" {:<{}} |", line[c], width[c]);
    out << "\n";
  }
  rule();
  out << r.size() << " row(s)\n";
}

nlohmann::json to_json(const Value& v) {
  switch (v.type()) {
    case Value::Type::null: return nullptr;
    case Value::Type::boolean: return v.raw_bool();
    case Value::Type::integer: return v.raw_int();
    case Value::Type::real: return v.raw_real();
    default: return v.to_string();
  }
}

nlohmann::json to_json(const Result& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const Row row : r) {
    nlohmann::json obj = nlohmann::json::object();
    for (std::size_t c = 0; c < row.size(); ++c) obj[r.columns()[c]] = to_json(row[c]);
    rows.push_back(std::move(obj));
  }
  nlohmann::json j = {{"rows", rows}, {"affected_rows", r.affected_rows()}};
  if (auto id = r.last_insert_id()) j["last_insert_id"] = *id;
  return j;
}

nlohmann::json to_json(const ConnectionHealth& h) {
  nlohmann::json hosts = nlohmann::json::array();
  for (const auto& hh : h.hosts) {
    nlohmann::json j = {{"role", hh.role},
                        {"host", hh.host},
                        {"reachable", hh.reachable},
                        {"latency_us", hh.latency.count()},
                        {"pool", {{"open", hh.pool.open}, {"in_use", hh.pool.in_use}, {"idle", hh.pool.idle},
                                  {"max", hh.pool.max}, {"timeouts", hh.pool.timeouts}}}};
    if (!hh.server_version.empty()) j["server_version"] = hh.server_version;
    if (!hh.error.empty()) j["error"] = hh.error;
    hosts.push_back(std::move(j));
  }
  return {{"name", h.name}, {"type", h.type}, {"healthy", h.healthy}, {"connected", h.connected}, {"hosts", hosts}};
}

void print_health(std::ostream& out, const std::vector<ConnectionHealth>& all) {
  for (const auto& h : all) {
    out << fmt::format("{:<16} {:<9} {}\n", h.name, h.type, h.healthy ? "healthy" : "DOWN");
    for (const auto& hh : h.hosts) {
      if (hh.reachable)
        out << fmt::format("  {:<8} {:<40} ok   {:>8.3f} ms  {} ({})\n", hh.role, hh.host, hh.latency.count() / 1000.0,
                           hh.server_version, hh.pool.to_string());
      else
        out << fmt::format("  {:<8} {:<40} DOWN {}\n", hh.role, hh.host, hh.error);
    }
  }
}

}  // namespace plexus::cli

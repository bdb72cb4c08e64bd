#include "db/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace plexus {

double Metrics::value(std::string_view name, Labels match) const {
  double sum = 0;
  for (const auto& f : m_families)
    for (const auto& s : f.samples) {
      if (s.name != name) continue;
      const bool all = std::all_of(match.begin(), match.end(), [&](const auto& want) {
        return std::any_of(s.labels.begin(), s.labels.end(),
                           [&](const auto& l) { return l.first == want.first && l.second == want.second; });
      });
      if (all) sum += s.value;
    }
  return sum;
}

MetricFamily& Metrics::family(std::string_view name, std::string_view type, std::string_view help) {
  for (auto& f : m_families)
    if (f.name == name) return f;
  return m_families.emplace_back(MetricFamily{std::string(name), std::string(type), std::string(help), {}});
}

void Metrics::add(MetricFamily& f, std::vector<std::pair<std::string, std::string>> labels, double value,
                  std::string_view suffix) {
  f.samples.push_back(MetricSample{f.name + std::string(suffix), std::move(labels), value});
}

namespace {

void escape_into(std::string& out, std::string_view text, bool label) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && label) out += "\\\"";
    else out += c;
  }
}

void number_into(std::string& out, double v) {
  if (std::isnan(v)) out += "NaN";
  else if (std::isinf(v)) out += v > 0 ? "+Inf" : "-Inf";
  else if (v == std::floor(v) && std::fabs(v) < 1e15) out += std::to_string(static_cast<long long>(v));
  else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    out += buf;
  }
}

}  // namespace

std::string Metrics::to_prometheus() const {
  std::string out;
  for (const auto& f : m_families) {
    out += "# HELP " + f.name + " ";
    escape_into(out, f.help, false);
    out += "\n# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& s : f.samples) {
      out += s.name;
      if (!s.labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < s.labels.size(); ++i) {
          if (i) out += ',';
          out += s.labels[i].first + "=\"";
          escape_into(out, s.labels[i].second, true);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      number_into(out, s.value);
      out += '\n';
    }
  }
  return out;
}

namespace detail {

namespace {
/// kLatencyBounds in nanoseconds (each is a whole number of them).
constexpr auto kLatencyBoundsNs = [] {
  std::array<std::int64_t, kLatencyBounds.size()> ns{};
  for (std::size_t i = 0; i < ns.size(); ++i) ns[i] = static_cast<std::int64_t>(kLatencyBounds[i] * 1e9 + 0.5);
  return ns;
}();
static_assert(kLatencyBoundsNs.front() == 100'000 && kLatencyBoundsNs[3] == 1'000'000 &&
              kLatencyBoundsNs.back() == 5'000'000'000);
}  // namespace

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  // The first bucket whose bound is not below d: a walk from the fastest, as
  // most statements land in the first buckets.
  std::size_t i = 0;
  while (i < kLatencyBoundsNs.size() && d.count() > kLatencyBoundsNs[i]) ++i;
  bump(m_buckets[i]);
  bump(m_count);
  bump(m_sum_ns, static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())));
}

void Histogram::export_to(Metrics& m, MetricFamily& f,
                          const std::vector<std::pair<std::string, std::string>>& labels) const {
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i <= kLatencyBounds.size(); ++i) {
    cumulative += m_buckets[i].load(std::memory_order_relaxed);
    auto l = labels;
    if (i < kLatencyBounds.size()) std::snprintf(le, sizeof le, "%g", kLatencyBounds[i]);
    else std::snprintf(le, sizeof le, "+Inf");
    l.emplace_back("le", le);
    m.add(f, std::move(l), static_cast<double>(cumulative), "_bucket");
  }
  m.add(f, labels, static_cast<double>(m_sum_ns.load(std::memory_order_relaxed)) / 1e9, "_sum");
  m.add(f, labels, read(m_count), "_count");
}

}  // namespace detail
}  // namespace plexus

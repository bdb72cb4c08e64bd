// Metrics: counters, gauges and latency histograms of every connection, host,
// role and shard group, read as one snapshot and exposed in the Prometheus
// text format (`db.metrics().to_prometheus()`, `plexus metrics`).
//
//   auto m = db.metrics();
//   double errors = m.value("plexus_query_errors_total", {{"connection", "users_db"}});
//   std::string text = m.to_prometheus();   // serve it at /metrics
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus {

/// One value of a metric with its labels (a histogram's buckets are samples
/// named `<name>_bucket` with an `le` label, plus `<name>_sum` and `<name>_count`).
struct MetricSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

/// A metric and its samples: `type` is "counter", "gauge" or "histogram".
struct MetricFamily {
  std::string name;
  std::string type;
  std::string help;
  std::vector<MetricSample> samples;
};

/// A snapshot of every metric, taken by Database::metrics().
class Metrics {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  [[nodiscard]] const std::vector<MetricFamily>& families() const noexcept { return m_families; }
  /// The sum of the samples named `name` whose labels include every pair of
  /// `match` (0 when none does): value("plexus_queries_total", {{"connection", "app"}}).
  [[nodiscard]] double value(std::string_view name, Labels match = {}) const;
  /// The Prometheus text exposition format (version 0.0.4), label values escaped.
  [[nodiscard]] std::string to_prometheus() const;

  /// Adds (or finds) a family; the Database fills snapshots through these.
  MetricFamily& family(std::string_view name, std::string_view type, std::string_view help);
  /// Adds a sample to `f` (its name, or `f.name + suffix`).
  void add(MetricFamily& f, std::vector<std::pair<std::string, std::string>> labels, double value,
           std::string_view suffix = {});

 private:
  std::vector<MetricFamily> m_families;
};

}  // namespace plexus

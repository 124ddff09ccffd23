#pragma once

// Builds Prometheus metric families at scrape time. Collectors read the
// kernel on every scrape and describe what they saw; nothing is cached.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "prometheus/metric_family.h"

namespace tcpq {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricSet {
 public:
  void Gauge(absl::string_view name, absl::string_view help,
             const Labels& labels, double value);
  // `name` must end in "_total".
  void Counter(absl::string_view name, absl::string_view help,
               const Labels& labels, double value);
  // A family with its samples filled by the caller (histograms).
  prometheus::MetricFamily& Family(absl::string_view name,
                                   absl::string_view help,
                                   prometheus::MetricType type);

  // Moves every family out, in the order they were first added.
  std::vector<prometheus::MetricFamily> Take();
  // Appends every family of `other` (names must not clash).
  void Merge(MetricSet&& other);

 private:
  absl::flat_hash_map<std::string, size_t> index_;
  std::vector<prometheus::MetricFamily> families_;
};

prometheus::ClientMetric::Label MakeLabel(std::string name, std::string value);

}  // namespace tcpq

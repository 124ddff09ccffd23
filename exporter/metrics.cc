#include "exporter/metrics.h"

#include <iterator>
#include <vector>

#include "absl/strings/string_view.h"

namespace tcpq {
namespace {

prometheus::ClientMetric WithLabels(const Labels& labels) {
  prometheus::ClientMetric metric;
  metric.label.reserve(labels.size());
  for (const auto& [name, value] : labels)
    metric.label.push_back(MakeLabel(name, value));
  return metric;
}

}  // namespace

prometheus::ClientMetric::Label MakeLabel(std::string name, std::string value) {
  prometheus::ClientMetric::Label label;
  label.name = std::move(name);
  label.value = std::move(value);
  return label;
}

prometheus::MetricFamily& MetricSet::Family(absl::string_view name,
                                            absl::string_view help,
                                            prometheus::MetricType type) {
  auto [it, inserted] = index_.try_emplace(name, families_.size());
  if (inserted) {
    prometheus::MetricFamily family;
    family.name = std::string(name);
    family.help = std::string(help);
    family.type = type;
    families_.push_back(std::move(family));
  }
  return families_[it->second];
}

void MetricSet::Gauge(absl::string_view name, absl::string_view help,
                      const Labels& labels, double value) {
  prometheus::ClientMetric metric = WithLabels(labels);
  metric.gauge.value = value;
  Family(name, help, prometheus::MetricType::Gauge)
      .metric.push_back(std::move(metric));
}

void MetricSet::Counter(absl::string_view name, absl::string_view help,
                        const Labels& labels, double value) {
  prometheus::ClientMetric metric = WithLabels(labels);
  metric.counter.value = value;
  Family(name, help, prometheus::MetricType::Counter)
      .metric.push_back(std::move(metric));
}

std::vector<prometheus::MetricFamily> MetricSet::Take() {
  index_.clear();
  return std::move(families_);
}

void MetricSet::Merge(MetricSet&& other) {
  // A ClientMetric is a large struct: a family new here is moved whole, and
  // one that exists grows once, not a series at a time (every scrape merges
  // each of ~16k series twice at 100 namespaces).
  for (prometheus::MetricFamily& family : other.Take()) {
    auto [it, inserted] = index_.try_emplace(family.name, families_.size());
    if (inserted) {
      families_.push_back(std::move(family));
      continue;
    }
    std::vector<prometheus::ClientMetric>& mine = families_[it->second].metric;
    if (mine.empty()) {
      mine = std::move(family.metric);
      continue;
    }
    mine.reserve(mine.size() + family.metric.size());
    std::move(family.metric.begin(), family.metric.end(),
              std::back_inserter(mine));
  }
}

}  // namespace tcpq

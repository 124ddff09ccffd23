#include "exporter/metrics.h"

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
  for (prometheus::MetricFamily& family : other.Take()) {
    prometheus::MetricFamily& mine =
        Family(family.name, family.help, family.type);
    for (auto& metric : family.metric) mine.metric.push_back(std::move(metric));
  }
}

}  // namespace tcpq

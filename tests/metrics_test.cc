#include "exporter/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tcpq {
namespace {

// name -> the gauge values of its series, in order, and the family order.
std::vector<std::pair<std::string, std::vector<double>>> Contents(
    MetricSet& set) {
  std::vector<std::pair<std::string, std::vector<double>>> contents;
  for (const prometheus::MetricFamily& family : set.Take()) {
    std::vector<double> values;
    for (const prometheus::ClientMetric& m : family.metric) {
      values.push_back(m.gauge.value);
    }
    contents.emplace_back(family.name, std::move(values));
  }
  return contents;
}

TEST(MetricSetTest, MergeAppendsSeriesToTheirFamiliesInOrder) {
  MetricSet a;
  a.Gauge("x", "help x", {{"n", "1"}}, 1);
  a.Gauge("y", "help y", {}, 2);
  MetricSet b;
  b.Gauge("y", "help y", {{"n", "2"}}, 3);
  b.Gauge("z", "help z", {}, 4);
  b.Gauge("y", "help y", {{"n", "3"}}, 5);
  MetricSet empty_family;  // a family whose series all went to another set
  empty_family.Family("x", "help x", prometheus::MetricType::Gauge);
  MetricSet out;
  out.Merge(std::move(empty_family));
  out.Merge(std::move(a));
  out.Merge(std::move(b));
  using Contents = std::vector<std::pair<std::string, std::vector<double>>>;
  EXPECT_EQ(::tcpq::Contents(out),
            (Contents{{"x", {1}}, {"y", {2, 3, 5}}, {"z", {4}}}));
}

}  // namespace
}  // namespace tcpq

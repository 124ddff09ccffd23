#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "exporter/collector_registry.h"

namespace tcpq {
namespace {

// A collector that reports one gauge per namespace and then fails: what a
// collector does when one namespace or one file goes wrong.
class PartlyFailingCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    for (const procfs::Netns& ns : context.namespaces) {
      out.Gauge("test_partial", "read before the failure",
                {{"netns", NetnsLabel(ns)}}, 7);
    }
    return absl::UnavailableError("injected failure");
  }
};

class WorkingCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext&, MetricSet& out) override {
    out.Gauge("test_ok", "always there", {}, 1);
    return absl::OkStatus();
  }
};

const prometheus::MetricFamily* Find(
    const std::vector<prometheus::MetricFamily>& families,
    const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double SuccessOf(const std::vector<prometheus::MetricFamily>& families,
                 const std::string& collector) {
  const prometheus::MetricFamily* success =
      Find(families, "tcpq_collector_success");
  for (const auto& metric : success->metric) {
    if (metric.label.at(0).value == collector) return metric.gauge.value;
  }
  ADD_FAILURE() << "no tcpq_collector_success for " << collector;
  return -1;
}

TEST(ScraperTest, FailingCollectorIsIsolatedAndKeepsWhatItRead) {
  Scraper::NamedCollectors collectors;
  collectors.emplace_back("broken", std::make_unique<PartlyFailingCollector>());
  collectors.emplace_back("fine", std::make_unique<WorkingCollector>());
  procfs::DiscoveryOptions host_only;
  host_only.all = false;
  std::unique_ptr<Scraper> scraper =
      Scraper::WithCollectors(host_only, std::move(collectors));

  const std::vector<prometheus::MetricFamily> families = scraper->Scrape();
  EXPECT_EQ(SuccessOf(families, "broken"), 0);
  EXPECT_EQ(SuccessOf(families, "fine"), 1);
  ASSERT_NE(Find(families, "test_partial"), nullptr);
  EXPECT_EQ(Find(families, "test_partial")->metric.size(),
            1u);  // the host namespace
  ASSERT_NE(Find(families, "test_ok"), nullptr);
  ASSERT_NE(Find(families, "tcpq_collector_duration_seconds"), nullptr);
  EXPECT_EQ(Find(families, "tcpq_collector_duration_seconds")->metric.size(),
            2u);
  ASSERT_NE(Find(families, "tcpq_netns_scanned"), nullptr);
  EXPECT_EQ(Find(families, "tcpq_netns_scanned")->metric.at(0).gauge.value, 1);
  ASSERT_NE(Find(families, "tcpq_exporter_build_info"), nullptr);
}

}  // namespace
}  // namespace tcpq

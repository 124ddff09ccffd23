#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "exporter/collector_registry.h"

namespace tcpq {
namespace {

// A collector that reports one gauge per namespace and then fails: what a
// collector does when one namespace or one file goes wrong.
class PartlyFailingCollector : public Collector {
 public:
  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    out.Gauge("test_partial", "read before the failure",
              {{"netns", visit.label()}}, 7);
    return absl::UnavailableError("injected failure");
  }
};

class WorkingCollector : public Collector {
 public:
  absl::Status CollectNamespace(NamespaceVisit&, MetricSet&) override {
    return absl::OkStatus();
  }
  absl::Status CollectNode(const ScrapeContext&, MetricSet& out) override {
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

TEST(CollectorRegistryTest, EveryCollectorIsRegisteredOnceByNameWithItsFlag) {
  std::vector<std::string> names;
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    names.emplace_back(d.name);
    EXPECT_NE(d.enabled, nullptr) << d.name;
    EXPECT_NE(d.create, nullptr) << d.name;
  }
  // The collectors of the SPEC, each linked in (none dropped by the linker).
  EXPECT_EQ(names,
            (std::vector<std::string>{"bpf", "netstat", "snmp", "sockdiag",
                                      "sockets", "synqueue", "sysctl"}));
  EXPECT_TRUE(CheckCollectorFlags().ok()) << CheckCollectorFlags();
}

absl::StatusOr<std::unique_ptr<Collector>> NoCollector() {
  return absl::UnimplementedError("not made in this test");
}

TEST(CollectorRegistryTest, AFlagWithoutACollectorIsAnErrorNamingIt) {
  const std::vector<CollectorDefinition> netstat = {
      {"netstat",
       /*enabled=*/nullptr,
       {"collector.netstat.fields"},
       NoCollector}};
  EXPECT_TRUE(CheckCollectorFlags(
                  netstat, {"collector_netstat", "collector_netstat_fields",
                            "web_listen_address"})
                  .ok());
  // What a collector removed without its flag would leave behind.
  const absl::Status orphan = CheckCollectorFlags(
      netstat,
      {"collector_netstat", "collector_netstat_fields", "collector_sockdiag"});
  EXPECT_EQ(orphan.code(), absl::StatusCode::kInternal);
  EXPECT_NE(orphan.message().find("collector_sockdiag"), std::string::npos)
      << orphan;
  // An option declared but never defined, or outside collector.<name>.
  EXPECT_NE(CheckCollectorFlags(netstat, {"collector_netstat"})
                .message()
                .find("collector.netstat.fields"),
            std::string::npos);
  const std::vector<CollectorDefinition> misnamed = {
      {"snmp", /*enabled=*/nullptr, {"collector.netstat.fields"}, NoCollector}};
  EXPECT_FALSE(CheckCollectorFlags(
                   misnamed, {"collector_snmp", "collector_netstat_fields"})
                   .ok());
  EXPECT_FALSE(CheckCollectorFlags({}, {}).ok());  // nothing linked in
}

}  // namespace
}  // namespace tcpq

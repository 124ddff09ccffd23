#include "exporter/collector_registry.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "build_info.h"
#include "exporter/collectors/collectors.h"
#include "exporter/log.h"

namespace tcpq {

std::string NetnsLabel(const procfs::Netns& ns) {
  return absl::StrCat(ns.identity.inode);
}

const std::vector<CollectorDefinition>& CollectorDefinitions() {
  static const auto* definitions = new std::vector<CollectorDefinition>{
      {"bpf", {"collector.bpf.histogram-netns"}, NewBpfCollector},
      {"netstat", {"collector.netstat.fields"}, NewNetstatCollector},
      {"snmp", {}, NewSnmpCollector},
      {"sockdiag", {}, NewSockdiagCollector},
      {"sysctl", {}, NewSysctlCollector},
      {"synqueue", {}, NewSynqueueCollector},
  };
  return *definitions;
}

std::vector<std::string> CollectorFlagSpellings() {
  std::vector<std::string> spellings;
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    spellings.push_back(absl::StrCat("collector.", d.name));
  }
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    for (absl::string_view option : d.option_flags)
      spellings.emplace_back(option);
  }
  return spellings;
}

absl::StatusOr<std::unique_ptr<Scraper>> Scraper::Create(
    const procfs::DiscoveryOptions& discovery) {
  NamedCollectors collectors;
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    const absl::CommandLineFlag* flag =
        absl::FindCommandLineFlag(absl::StrCat("collector_", d.name));
    if (flag == nullptr || !flag->TryGet<bool>().value_or(false)) continue;
    absl::StatusOr<std::unique_ptr<Collector>> collector = d.create();
    if (!collector.ok()) return collector.status();
    collectors.emplace_back(std::string(d.name), *std::move(collector));
  }
  return WithCollectors(discovery, std::move(collectors));
}

std::unique_ptr<Scraper> Scraper::WithCollectors(
    const procfs::DiscoveryOptions& discovery, NamedCollectors collectors) {
  std::unique_ptr<Scraper> scraper(new Scraper(discovery));
  absl::MutexLock lock(&scraper->mutex_);
  for (auto& [name, collector] : collectors) {
    Entry& entry = scraper->entries_.emplace_back();
    entry.name = std::move(name);
    entry.collector = std::move(collector);
  }
  // More lanes than cores only adds context switches; more than 4 would
  // mostly wait on the one slowest collector.
  const size_t lanes =
      std::clamp<size_t>(std::min<size_t>(std::thread::hardware_concurrency(),
                                          scraper->entries_.size()),
                         1, 4);
  for (size_t i = 0; i < lanes; ++i) {
    scraper->lanes_.push_back(std::make_unique<procfs::NetnsExecutor>());
  }
  return scraper;
}

std::vector<std::string> Scraper::EnabledCollectors() const {
  absl::MutexLock lock(const_cast<absl::Mutex*>(&mutex_));
  std::vector<std::string> names;
  for (const Entry& e : entries_) names.push_back(e.name);
  return names;
}

std::vector<prometheus::MetricFamily> Scraper::Scrape() {
  absl::MutexLock lock(&mutex_);
  MetricSet out;
  out.Gauge("tcpq_exporter_build_info",
            "A metric with a constant '1' value labeled by version and git "
            "revision of tcpq_exporter.",
            {{"version", kVersion}, {"revision", kRevision}}, 1);

  absl::StatusOr<std::vector<procfs::Netns>> found =
      procfs::DiscoverNamespaces(discovery_);
  if (found.ok() != discovery_ok_) {
    discovery_ok_ = found.ok();
    if (found.ok()) {
      log::Info("namespace discovery recovered");
    } else {
      log::Error("namespace discovery failed",
                 {{"err", found.status().ToString()}});
    }
  }
  const std::vector<procfs::Netns> namespaces =
      found.ok() ? *std::move(found) : std::vector<procfs::Netns>{};
  out.Gauge("tcpq_netns_scanned", "Network namespaces read in this scrape.", {},
            static_cast<double>(namespaces.size()));
  for (const procfs::Netns& ns : namespaces) {
    out.Gauge("tcpq_netns_info",
              "Names of a network namespace: its /run/netns name and, in "
              "Kubernetes, the pod UID and container ID of its lowest PID.",
              {{"netns", NetnsLabel(ns)},
               {"name", ns.identity.name},
               {"pod_uid", ns.identity.pod_uid},
               {"container_id", ns.identity.container_id}},
              1);
  }

  RunCollectors(namespaces);
  // Merged in registration order, whichever lane finished first.
  for (Entry& entry : entries_) {
    const absl::Status& status = entry.status;
    out.Merge(std::move(entry.collected));
    entry.collected = MetricSet();
    if (status.ok() != entry.last_ok) {
      entry.last_ok = status.ok();
      if (status.ok()) {
        log::Info("collector recovered", {{"collector", entry.name}});
      } else {
        log::Warn("collector failed",
                  {{"collector", entry.name}, {"err", status.ToString()}});
      }
    }
    out.Gauge("tcpq_collector_success",
              "1 if the collector's last scrape succeeded, 0 if it failed.",
              {{"collector", entry.name}}, status.ok() ? 1 : 0);
    out.Gauge("tcpq_collector_duration_seconds",
              "Time the collector's last scrape took.",
              {{"collector", entry.name}}, entry.seconds);
  }
  return out.Take();
}

void Scraper::RunCollectors(const std::vector<procfs::Netns>& namespaces) {
  std::vector<Entry*> order;
  for (Entry& entry : entries_) order.push_back(&entry);
  std::stable_sort(
      order.begin(), order.end(),
      [](const Entry* a, const Entry* b) { return a->seconds > b->seconds; });
  std::atomic<size_t> next{0};
  for (const auto& lane : lanes_) {
    lane->Start([&order, &next, &namespaces, &lane = *lane] {
      const ScrapeContext context{namespaces, lane};
      for (size_t i = next++; i < order.size(); i = next++) {
        Entry& entry = *order[i];
        const absl::Time start = absl::Now();
        entry.status = entry.collector->Collect(context, entry.collected);
        entry.seconds = absl::ToDoubleSeconds(absl::Now() - start);
      }
    });
  }
  for (const auto& lane : lanes_) lane->Wait();
}

}  // namespace tcpq

#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "exporter/collector.h"
#include "procfs/netns.h"
#include "procfs/netns_executor.h"
#include "prometheus/metric_family.h"

namespace tcpq {

// One collector: its name (flag --collector.<name>, label collector="<name>"),
// the spellings of its option flags, and how to make it from its flags.
struct CollectorDefinition {
  absl::string_view name;
  std::vector<absl::string_view> option_flags;
  absl::StatusOr<std::unique_ptr<Collector>> (*create)();
};

// Every collector, in the order they run. The one place to register one.
const std::vector<CollectorDefinition>& CollectorDefinitions();

// "collector.<name>" for every collector, then their option flags.
std::vector<std::string> CollectorFlagSpellings();

// Runs the enabled collectors on every scrape and adds the exporter's own
// health metrics. The collectors run concurrently, each whole on one of a few
// namespace threads (lanes) kept from scrape to scrape: with 100 namespaces
// most of a scrape is the kernel's work, which two cores share. Scrapes are
// serialized: they share the lanes.
class Scraper {
 public:
  // Creates every collector enabled by its flag; an invalid option (a bad
  // regex) is an InvalidArgument error naming the flag.
  static absl::StatusOr<std::unique_ptr<Scraper>> Create(
      const procfs::DiscoveryOptions& discovery);

  // A scraper running exactly `collectors`, by name (Create uses it).
  using NamedCollectors =
      std::vector<std::pair<std::string, std::unique_ptr<Collector>>>;
  static std::unique_ptr<Scraper> WithCollectors(
      const procfs::DiscoveryOptions& discovery, NamedCollectors collectors);

  std::vector<prometheus::MetricFamily> Scrape();

  // Names of the enabled collectors, for the startup log line.
  std::vector<std::string> EnabledCollectors() const;

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Collector> collector;
    bool last_ok = true;  // log on transitions only, never per scrape
    // This scrape's result, written by the lane that ran it.
    MetricSet collected;
    absl::Status status;
    double seconds = 0;
  };

  // Runs every entry on the lanes, longest (by the last scrape) first, so
  // the slowest collector does not start last.
  void RunCollectors(const std::vector<procfs::Netns>& namespaces)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  explicit Scraper(procfs::DiscoveryOptions discovery)
      : discovery_(std::move(discovery)) {}

  const procfs::DiscoveryOptions discovery_;
  absl::Mutex mutex_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mutex_);
  bool discovery_ok_ ABSL_GUARDED_BY(mutex_) = true;
  std::vector<std::unique_ptr<procfs::NetnsExecutor>> lanes_;
};

}  // namespace tcpq

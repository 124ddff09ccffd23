#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "exporter/collector.h"
#include "procfs/kubelet_logs.h"
#include "procfs/listeners.h"
#include "procfs/netns.h"
#include "procfs/netns_executor.h"
#include "prometheus/metric_family.h"

namespace tcpq {

// One collector: its name (flag --collector.<name>, label collector="<name>"),
// its enable flag, the spellings of its option flags ("collector.<name>.x")
// and how to make it from its flags.
struct CollectorDefinition {
  absl::string_view name;
  const absl::Flag<bool>* enabled;
  std::vector<absl::string_view> option_flags;
  absl::StatusOr<std::unique_ptr<Collector>> (*create)();
};

// Adds a collector to the registry (TCPQ_COLLECTOR does it); returns true.
bool RegisterCollector(CollectorDefinition definition);

// Every registered collector, by name: the order they run and print in.
const std::vector<CollectorDefinition>& CollectorDefinitions();

// OK when every absl flag named collector_* belongs to a registered
// collector (its enable flag or a declared option) and every declared
// option exists; else an error naming the stray flag. Checked at start-up.
absl::Status CheckCollectorFlags();
// The same over given definitions and absl flag names.
absl::Status CheckCollectorFlags(
    const std::vector<CollectorDefinition>& definitions,
    const std::vector<std::string>& flag_names);

// "collector.<name>" for every collector, then their option flags.
std::vector<std::string> CollectorFlagSpellings();

// Declares a collector in its own file, at global scope, once: its flag
// --collector.<name> (absl flag collector_<name>) with its default and help,
// its factory, and the spellings of its option flags (defined next to it
// with ABSL_FLAG). The name and the flag come from one token, so neither can
// exist without the other.
#define TCPQ_COLLECTOR(name, enabled_by_default, help, create, ...)     \
  ABSL_FLAG(bool, collector_##name, enabled_by_default, help);          \
  [[maybe_unused]] static const bool tcpq_collector_registered_##name = \
      ::tcpq::RegisterCollector(                                        \
          {#name, &FLAGS_collector_##name, {__VA_ARGS__}, create})

// Runs the enabled collectors on every scrape and adds the exporter's own
// health metrics. Each namespace is visited once per scrape, and every
// collector reads it during that visit (one setns, one listener dump).
// The exporter's own namespace is visited on the scraping thread; the others
// on a few namespace threads (lanes) kept from scrape to scrape, which share
// them out one at a time. Scrapes are serialized: they share the lanes.
class Scraper {
 public:
  // Creates every collector enabled by its flag; an invalid option (a bad
  // regex) is an InvalidArgument error naming the flag.
  static absl::StatusOr<std::unique_ptr<Scraper>> Create(
      const procfs::DiscoveryOptions& discovery);

  // A scraper running exactly `collectors`, by name, in this order.
  using NamedCollectors =
      std::vector<std::pair<std::string, std::unique_ptr<Collector>>>;
  static std::unique_ptr<Scraper> WithCollectors(
      const procfs::DiscoveryOptions& discovery, NamedCollectors collectors);

  std::vector<prometheus::MetricFamily> Scrape();

  // Names of the enabled collectors, for the startup log line.
  std::vector<std::string> EnabledCollectors() const;

  // What the last scrape named (for GET /connections): each namespace's
  // identity and each listener's owner. Taken under a lock of its own, never
  // the scrape's.
  struct Names {
    absl::flat_hash_map<uint64_t, procfs::NetnsIdentity> namespaces;
    // The `process` of tcpq_listener_info, by namespace inode, then listener.
    absl::flat_hash_map<uint64_t, std::map<procfs::ListenerKey, std::string>>
        listener_processes;
  };
  std::shared_ptr<const Names> LastNames() const;

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Collector> collector;
    bool last_ok = true;      // log on transitions only, never per scrape
    bool read_all_ok = true;  // ReadAllNamespaces; likewise
  };
  // What one thread read of a share of the namespaces (a contiguous run, so
  // that merging the shares in order keeps discovery order): per collector,
  // its metrics and the time it took.
  struct Share {
    std::vector<MetricSet> metrics;
    std::vector<double> seconds;
  };
  // Per namespace, per collector: how reading it went.
  using Statuses = std::vector<std::vector<absl::Status>>;

  explicit Scraper(procfs::DiscoveryOptions discovery)
      : discovery_(std::move(discovery)), kubelet_(discovery_.varlog) {}

  // Visits every namespace; returns the shares in namespace order.
  std::vector<Share> VisitNamespaces(
      const std::vector<procfs::Netns>& namespaces, const NodeContext& node,
      Statuses& statuses) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Every collector reads the namespace, already entered (or not: `entered`).
  void Visit(const procfs::Netns& ns, const absl::Status& entered,
             const NodeContext& node, KeptNamespace& kept, Share& share,
             std::vector<absl::Status>& statuses) const;
  // The owners tcpq_listener_info named, into `names`: the scrape's own
  // output is where a listener's owner is known.
  static void AddListenerProcesses(
      const std::vector<prometheus::MetricFamily>& families, Names& names);
  // What the collectors read of every namespace at once; a failure is
  // logged on transitions and leaves each namespace to its own reads.
  NodeSnapshot ReadAllNamespaces() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Re-reads the kubelet's names if they changed; logs names it cannot use
  // once each.
  void RefreshKubeletNames() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const procfs::DiscoveryOptions discovery_;
  mutable absl::Mutex mutex_;
  mutable absl::Mutex names_mutex_;
  std::shared_ptr<const Names> names_ ABSL_GUARDED_BY(names_mutex_);
  // Fixed at creation; last_ok is only touched by a scrape (under mutex_).
  std::vector<Entry> entries_;
  bool discovery_ok_ ABSL_GUARDED_BY(mutex_) = true;
  uint64_t scrapes_ ABSL_GUARDED_BY(mutex_) = 0;  // collections run
  bool discovery_denied_ ABSL_GUARDED_BY(mutex_) = false;
  procfs::DiscoveryCache discovered_ ABSL_GUARDED_BY(mutex_);
  procfs::KubeletLogs kubelet_ ABSL_GUARDED_BY(mutex_);
  bool kubelet_ok_ ABSL_GUARDED_BY(mutex_) = true;
  absl::flat_hash_map<uint64_t, std::unique_ptr<KeptNamespace>> kept_
      ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<procfs::NetnsExecutor>> lanes_;
};

}  // namespace tcpq

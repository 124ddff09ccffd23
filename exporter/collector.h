#pragma once

// The one interface every collector implements (the node_exporter pattern).
// Collectors are registered in exporter/collector_registry.cc.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "exporter/metrics.h"
#include "procfs/netns.h"
#include "procfs/netns_executor.h"

namespace tcpq {

// What one scrape shares with every collector.
struct ScrapeContext {
  const std::vector<procfs::Netns>& namespaces;
  procfs::NetnsExecutor& executor;
};

class Collector {
 public:
  virtual ~Collector() = default;
  // Reads the kernel and adds metrics to `out`. On error, whatever it added
  // is still served (one namespace failing must not hide the others), and
  // tcpq_collector_success reports 0 for this collector.
  virtual absl::Status Collect(const ScrapeContext& context,
                               MetricSet& out) = 0;
};

// Label value for a namespace: its inode number in decimal.
std::string NetnsLabel(const procfs::Netns& ns);

// Runs `read` inside each namespace, remembering the first error and going
// on with the others. `read` returns the status for its namespace.
template <typename ReadFn>
absl::Status ForEachNamespace(const ScrapeContext& context, ReadFn read) {
  absl::Status first_error;
  context.executor.ForEach(
      context.namespaces, [&](size_t i, const absl::Status& entered) {
        const procfs::Netns& ns = context.namespaces[i];
        const absl::Status status = entered.ok() ? read(ns) : entered;
        if (!status.ok() && first_error.ok()) {
          first_error =
              absl::Status(status.code(), "netns " + NetnsLabel(ns) + ": " +
                                              std::string(status.message()));
        }
      });
  return first_error;
}

}  // namespace tcpq

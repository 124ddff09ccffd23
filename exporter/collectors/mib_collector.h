#pragma once

// The body that the netstat and snmp collectors share: one section of a
// kernel MIB file (/proc/net/netstat TcpExt, /proc/net/snmp Tcp), read in
// every namespace and exported field by field as a table says.

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "exporter/collector.h"
#include "procfs/namespace_files.h"
#include "re2/re2.h"

namespace tcpq {

// A field exported by default, and what it means for an SRE.
struct MibField {
  const char* kernel_name;  // "ListenOverflows"
  bool is_counter;          // false: a gauge (Tcp CurrEstab)
  const char* help;
};

struct MibSource {
  const char* file;     // "netstat": /proc/thread-self/net/netstat
  const char* section;  // "TcpExt"
  const char* prefix;   // "tcpq_netstat_"
  std::span<const MibField> fields;
  // Further fields exported as counters when their name matches; null: none.
  std::unique_ptr<const re2::RE2> extra;
};

// tcpq_<file>_<snake case field>[_total], labels {netns}. A field the
// running kernel lacks is absent, not zero.
class MibCollector : public Collector {
 public:
  explicit MibCollector(MibSource source);

  absl::Status CollectNamespace(NamespaceVisit& visit, MetricSet& out) override;
  absl::Status CollectNode(const ScrapeContext& context,
                           MetricSet& out) override;

 private:
  struct FieldMetric {
    std::string name;
    std::string help;
    bool is_counter;
  };
  // The metric a field is exported as, or nullptr; derived once per field
  // name (the kernel has a fixed set), not per namespace per scrape.
  const FieldMetric* MetricFor(const std::string& field)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const MibSource source_;
  procfs::NamespaceFiles files_;
  absl::Mutex mutex_;  // namespaces are read concurrently
  // Node-based: pointers handed out stay valid as fields are added.
  absl::node_hash_map<std::string, std::optional<FieldMetric>> metrics_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace tcpq

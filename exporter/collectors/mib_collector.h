#pragma once

// The body that the netstat and snmp collectors share: one section of a
// kernel MIB file (/proc/net/netstat TcpExt, /proc/net/snmp Tcp), read in
// every namespace and exported field by field as a table says. With the bpf
// collector on, a namespace read once is read again from the kernel's
// per-CPU counters (read_netns, one pass for every namespace per scrape)
// instead of its files: the same numbers without formatting and parsing
// 150 of them as text per namespace.

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "exporter/collector.h"
#include "procfs/namespace_files.h"
#include "procfs/snmp_parser.h"
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
  // Which MIB of tcpq_netns_record the section prints: bpf::kTcpMibPrefix or
  // bpf::kLinuxMibPrefix.
  absl::string_view bpf_mib;
  std::span<const MibField> fields;
  // Further fields exported as counters when their name matches; null: none.
  std::unique_ptr<const re2::RE2> extra;
};

// tcpq_<file>_<snake case field>[_total], labels {netns}. A field the
// running kernel lacks is absent, not zero.
class MibCollector : public Collector {
 public:
  explicit MibCollector(MibSource source);

  absl::Status ReadAllNamespaces(NodeSnapshot& snapshot) override;
  absl::Status CollectNamespace(NamespaceVisit& visit, MetricSet& out) override;
  absl::Status CollectNode(const ScrapeContext& context,
                           MetricSet& out) override;

 private:
  struct FieldMetric {
    std::string name;
    std::string help;
    bool is_counter;
  };
  // An exported field and its entry in the section's MIB of a
  // tcpq_netns_record.
  struct BpfField {
    const FieldMetric* metric;
    int index;
    bool is_signed;  // Tcp MaxConn, printed as a signed number
  };
  // The metric a field is exported as, or nullptr; derived once per field
  // name (the kernel has a fixed set), not per namespace per scrape.
  const FieldMetric* MetricFor(const std::string& field)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The fields to read from a namespace's record, or null while namespaces
  // may not be read from BPF: the bpf collector is off, read_netns is not
  // attached, or an exported field has no entry (known from the first
  // namespace read from its file).
  const std::vector<BpfField>* BpfFields();
  // From the section as a namespace's file printed it: the exported fields
  // in the file's order with their entries, or why they cannot be read
  // from BPF. Once: the kernel prints the same fields in every namespace.
  void ResolveBpfFields(const procfs::MibSection& section)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Exports the namespace's fields from its tcpq_netns_record; false when
  // they may not be read from BPF or the record lacks one of them.
  bool CollectFromRecord(const NamespaceVisit& visit,
                         const tcpq_netns_record& record, MetricSet& out);
  void Export(const FieldMetric& metric, const Labels& labels, double value,
              MetricSet& out) const;

  const MibSource source_;
  procfs::NamespaceFiles files_;
  absl::Mutex mutex_;  // namespaces are read concurrently
  // Node-based: pointers handed out stay valid as fields are added.
  absl::node_hash_map<std::string, std::optional<FieldMetric>> metrics_
      ABSL_GUARDED_BY(mutex_);
  // Set by the first namespace read from its file; fixed after that.
  std::optional<absl::StatusOr<std::vector<BpfField>>> bpf_fields_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace tcpq

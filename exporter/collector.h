#pragma once

// The one interface every collector implements (the node_exporter pattern),
// and what a scrape hands to it. A collector declares itself, its flag and
// its options with TCPQ_COLLECTOR (exporter/collector_registry.h) in its
// own file.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/tcpq.h"
#include "exporter/metrics.h"
#include "procfs/inet_diag.h"
#include "procfs/kubelet_logs.h"
#include "procfs/listeners.h"
#include "procfs/netns.h"

namespace tcpq {

// Label value for a namespace: its inode number in decimal.
std::string NetnsLabel(const procfs::Netns& ns);

// Labels of one listener series.
Labels ListenerLabels(const std::string& netns, const procfs::ListenerKey& key);

// What a scrape keeps of one namespace until the next scrape, and drops the
// first scrape that no longer finds the namespace (a kept socket holds the
// namespace alive, so its inode number cannot be reused meanwhile).
struct KeptNamespace {
  std::optional<procfs::SockDiag> sock_diag;
};

// The listeners of many namespaces, read at once: complete for the
// namespaces `covered`, which have no listener where `listeners` has no
// entry.
struct ListenerSnapshot {
  absl::flat_hash_set<uint64_t> covered;
  absl::flat_hash_map<uint64_t, procfs::Listeners> listeners;
};

// What the kernel's files of many namespaces print (TCP MIBs, sysctls,
// TIME_WAIT count), read at once from BPF, by namespace inode; complete
// records only.
using NetnsRecords = absl::flat_hash_map<uint64_t, tcpq_netns_record>;

// What collectors read of every namespace at once, before a scrape visits
// them (Collector::ReadAllNamespaces); what is absent is read in each visit.
struct NodeSnapshot {
  std::optional<ListenerSnapshot> listeners;
  std::optional<NetnsRecords> records;
};

// What a scrape knows of the node, the same for every namespace.
struct NodeContext {
  const std::string& procfs;           // --path.procfs
  const procfs::KubeletLogs& kubelet;  // pod and container names
  const NodeSnapshot& snapshot;
};

// One network namespace as one scrape visits it: every collector reads it in
// turn, on one thread that is inside the namespace (so /proc/thread-self/net,
// /proc/sys/net and new sockets describe it). Different namespaces may be
// visited at the same time on different threads.
class NamespaceVisit {
 public:
  NamespaceVisit(const procfs::Netns& netns, const NodeContext& node,
                 KeptNamespace& kept)
      : netns_(netns), label_(NetnsLabel(netns)), node_(node), kept_(kept) {}

  const procfs::Netns& netns() const { return netns_; }
  const NodeContext& node() const { return node_; }
  uint64_t inode() const { return netns_.identity.inode; }
  // NetnsLabel(netns()).
  const std::string& label() const { return label_; }

  // A sock_diag dump (procfs::SockDiag::DumpTcp) of this namespace, on a
  // socket opened on first use and kept from scrape to scrape (dropped after
  // a failed dump, whose leftovers it may still hold).
  absl::StatusOr<std::vector<procfs::InetDiagSocket>> DumpTcp(
      int family, uint32_t states, bool with_meminfo);
  // Every LISTEN socket, IPv4 and IPv6, grouped by address and port, shared
  // by every collector that reads listeners: from the scrape's
  // ListenerSnapshot when it covers this namespace, else one LISTEN-only
  // dump per visit (which skips the established hash but scans the host-wide
  // listening hash).
  const absl::StatusOr<procfs::Listeners>& Listeners();
  // This namespace's record of the scrape's BPF pass (NodeSnapshot::records),
  // or null: its files are read instead.
  const tcpq_netns_record* Record() const;

 private:
  const procfs::Netns& netns_;
  const std::string label_;
  const NodeContext& node_;
  KeptNamespace& kept_;
  std::optional<absl::StatusOr<procfs::Listeners>> listeners_;
};

// What a scrape hands to every collector's node-wide step.
struct ScrapeContext {
  const std::vector<procfs::Netns>& namespaces;  // this scrape's, in order
  const NodeContext& node;
};

class Collector {
 public:
  virtual ~Collector() = default;

  // Reads one namespace inside it and adds its metrics to `out`. Called for
  // every namespace of a scrape, concurrently for different namespaces: state
  // shared across namespaces must be guarded. On error, whatever it added is
  // still served (one namespace failing must not hide the others), and
  // tcpq_collector_success reports 0 for this collector.
  virtual absl::Status CollectNamespace(NamespaceVisit& visit,
                                        MetricSet& out) = 0;

  // A collector that can read something of every namespace at once (from
  // the BPF programs) fills that part of `snapshot`, unless an earlier
  // collector did. Called once per scrape, in registration order, before
  // any namespace is visited. On error it leaves `snapshot` as it was, and
  // each namespace is read in its visit.
  virtual absl::Status ReadAllNamespaces(NodeSnapshot& /*snapshot*/) {
    return absl::OkStatus();
  }

  // Called once per scrape after every namespace was visited, outside any
  // namespace: node-wide metrics and per-scrape clean-up. Its metrics follow
  // the ones of CollectNamespace.
  virtual absl::Status CollectNode(const ScrapeContext& /*context*/,
                                   MetricSet& /*out*/) {
    return absl::OkStatus();
  }
};

}  // namespace tcpq

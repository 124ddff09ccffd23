// sockdiag: accept queue length, limit and drops of every listener, from the
// scrape's BPF pass over every namespace's listeners or the namespace's
// LISTEN-only sock_diag dump (NamespaceVisit::Listeners), and who owns each
// listener.

#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "bpf/walk_records.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/bpf_shared.h"
#include "exporter/socket_walk.h"
#include "exporter/workload.h"
#include "procfs/socket_owner.h"

namespace tcpq {
namespace {

class SockdiagCollector : public Collector {
 public:
  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    const absl::StatusOr<procfs::Listeners>& listeners = visit.Listeners();
    if (!listeners.ok()) return listeners.status();
    for (const auto& [key, totals] : *listeners) {
      const Labels labels = ListenerLabels(visit.label(), key);
      out.Gauge("tcpq_listener_sockets",
                "LISTEN sockets on this address and port (>1 with "
                "SO_REUSEPORT).",
                labels, totals.sockets);
      out.Gauge("tcpq_listener_accept_queue_length",
                "Connections completed and waiting for accept() (ss Recv-Q), "
                "summed over the SO_REUSEPORT group.",
                labels, static_cast<double>(totals.accept_queue_length));
      out.Gauge("tcpq_listener_accept_queue_limit",
                "Accept queue capacity, min(listen backlog, "
                "net.core.somaxconn) "
                "(ss Send-Q), summed over the SO_REUSEPORT group.",
                labels, static_cast<double>(totals.accept_queue_limit));
      if (totals.has_drops) {
        out.Counter("tcpq_listener_drops_total",
                    "SYNs and ACKs this listener dropped because its accept "
                    "or SYN queue was full (sk_drops, ss -tlnm d<N>).",
                    labels, static_cast<double>(totals.drops));
      }
    }
    return AddOwners(visit, *listeners, out);
  }

  // With the bpf collector on, every namespace's listeners in one pass over
  // the BPF programs' listening sockets, vouched for in the namespaces seeded
  // before the pass (whose older listeners the seeding walk marked).
  absl::Status ReadAllNamespaces(NodeSnapshot& snapshot) override {
    SharedBpf* shared = SharedBpf::GetIfOn();
    if (snapshot.listeners.has_value() || shared == nullptr) {
      return absl::OkStatus();
    }
    bpf::Programs* programs = shared->programs();
    if (programs == nullptr || !programs->can_read_listeners()) {
      return absl::OkStatus();
    }
    ListenerSnapshot listeners;
    listeners.covered = shared->Seeded();  // before the pass
    std::vector<tcpq_listener_record> records;
    bpf::RecordReader<tcpq_listener_record> reader;
    absl::Status read =
        programs->ReadListeners([&](std::span<const uint8_t> chunk) {
          reader.Feed(chunk, [&](const tcpq_listener_record& record) {
            records.push_back(record);
          });
        });
    if (read.ok()) read = reader.Finish();
    if (!read.ok()) return read;
    listeners.listeners = socket_walk::GroupListenerRecords(records);
    snapshot.listeners = std::move(listeners);
    return absl::OkStatus();
  }

  absl::Status CollectNode(const ScrapeContext& context, MetricSet&) override {
    // Forget the owners of namespaces gone.
    absl::flat_hash_set<uint64_t> found;
    for (const procfs::Netns& ns : context.namespaces) {
      found.insert(ns.identity.inode);
    }
    absl::MutexLock lock(&mutex_);
    absl::erase_if(owners_, [&](const auto& entry) {
      return !found.contains(entry.first);
    });
    return absl::OkStatus();
  }

 private:
  // tcpq_listener_info: the process holding the listener (the lowest PID of
  // the SO_REUSEPORT group's owners) and its workload. Owners are looked up
  // only for listeners not seen before or whose owner left (a restart).
  absl::Status AddOwners(NamespaceVisit& visit,
                         const procfs::Listeners& listeners, MetricSet& out) {
    procfs::SocketOwners* owners;
    {
      absl::MutexLock lock(&mutex_);
      std::unique_ptr<procfs::SocketOwners>& slot = owners_[visit.inode()];
      if (slot == nullptr) slot = std::make_unique<procfs::SocketOwners>();
      owners = slot.get();  // used by this namespace's visit only
    }
    std::vector<uint64_t> inodes;
    for (const auto& [key, totals] : listeners) {
      inodes.insert(inodes.end(), totals.inodes.begin(), totals.inodes.end());
    }
    const absl::Status status = owners->Update(
        visit.node().procfs, visit.inode(), visit.netns().pids, inodes);
    for (const auto& [key, totals] : listeners) {
      const procfs::ProcessIdentity* owner = nullptr;
      for (uint64_t inode : totals.inodes) {
        const procfs::ProcessIdentity* candidate = owners->Owner(inode);
        if (candidate != nullptr &&
            (owner == nullptr || candidate->pid < owner->pid)) {
          owner = candidate;
        }
      }
      Labels labels = ListenerLabels(visit.label(), key);
      if (owner != nullptr) {
        AppendOwnerLabels(*owner, visit.node().kubelet, labels);
      }
      out.Gauge(kListenerInfoMetric,
                "The owner of a listener: process (comm of the lowest PID "
                "holding it), systemd unit, and in Kubernetes its container, "
                "pod and namespace. Labels it does not have are left out.",
                labels, 1);
    }
    if (!status.ok()) {
      return absl::Status(
          status.code(),
          absl::StrCat("finding listener owners: ", status.message(),
                       absl::IsPermissionDenied(status)
                           ? " (reading other processes' fds needs "
                             "CAP_SYS_PTRACE)"
                           : ""));
    }
    return absl::OkStatus();
  }

  absl::Mutex mutex_;  // namespaces are visited concurrently
  absl::flat_hash_map<uint64_t, std::unique_ptr<procfs::SocketOwners>> owners_
      ABSL_GUARDED_BY(mutex_);
};

absl::StatusOr<std::unique_ptr<Collector>> NewSockdiagCollector() {
  return std::make_unique<SockdiagCollector>();
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(sockdiag, true,
               "Enable the sockdiag collector: accept queue length/limit and "
               "drops of every LISTEN socket per namespace (one BPF pass over "
               "every namespace's listeners with --collector.bpf, else a "
               "sock_diag dump per namespace), and tcpq_listener_info naming "
               "each one's owner.",
               tcpq::NewSockdiagCollector);

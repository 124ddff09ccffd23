// synqueue (opt-in): half-open connections per listener. Asking sock_diag
// for SYN_RECV walks every socket of the namespace, so this costs
// O(sockets) per scrape and is off by default.

#include <sys/socket.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "exporter/collector_registry.h"
#include "procfs/inet_diag.h"

namespace tcpq {
namespace {

// Request sockets are TCP_NEW_SYN_RECV in the kernel, not SYN_RECV.
constexpr int kTcpNewSynRecv = 12;

class SynqueueCollector : public Collector {
 public:
  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    const absl::StatusOr<procfs::Listeners>& listeners = visit.Listeners();
    if (!listeners.ok()) return listeners.status();
    absl::StatusOr<std::vector<procfs::InetDiagSocket>> half_open =
        visit.DumpTcp(AF_UNSPEC,
                      procfs::StateBit(procfs::kTcpSynRecv) |
                          procfs::StateBit(kTcpNewSynRecv),
                      /*with_meminfo=*/false);
    if (!half_open.ok()) return half_open.status();
    const procfs::SynQueueLengths lengths =
        procfs::CountSynQueue(*half_open, *listeners);
    for (const auto& [key, totals] : *listeners) {
      const auto length = lengths.find(key);
      out.Gauge(
          "tcpq_listener_syn_queue_length",
          "Half-open connections (SYN_RECV) waiting for the "
          "client's ACK.",
          ListenerLabels(visit.label(), key),
          length == lengths.end() ? 0 : static_cast<double>(length->second));
    }
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Collector>> NewSynqueueCollector() {
  return std::make_unique<SynqueueCollector>();
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(synqueue, false,
               "Enable the synqueue collector: SYN_RECV (half-open) "
               "connections per listener. Walks every socket: O(sockets) per "
               "scrape.",
               tcpq::NewSynqueueCollector);

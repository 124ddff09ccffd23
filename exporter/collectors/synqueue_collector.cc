// synqueue (opt-in): half-open connections per listener. Asking sock_diag
// for SYN_RECV walks every socket of the namespace, so this costs
// O(sockets) per scrape and is off by default.

#include <sys/socket.h>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "exporter/collectors/collectors.h"
#include "exporter/collectors/listener_metrics.h"
#include "procfs/inet_diag.h"

ABSL_FLAG(bool, collector_synqueue, false,
          "Enable the synqueue collector: SYN_RECV (half-open) connections per "
          "listener. Walks every socket: O(sockets) per scrape.");

namespace tcpq {
namespace {

class SynqueueCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    return ForEachNamespace(
        context, [&](const procfs::Netns& ns) -> absl::Status {
          absl::StatusOr<procfs::SockDiag> sock_diag = procfs::SockDiag::Open();
          if (!sock_diag.ok()) return sock_diag.status();
          absl::StatusOr<procfs::Listeners> listeners =
              DumpListeners(*sock_diag);
          if (!listeners.ok()) return listeners.status();
          for (int family : {AF_INET, AF_INET6}) {
            // Request sockets are TCP_NEW_SYN_RECV (12) in the kernel; ask for
            // both.
            absl::StatusOr<std::vector<procfs::InetDiagSocket>> half_open =
                sock_diag->DumpTcp(family,
                                   procfs::StateBit(procfs::kTcpSynRecv) |
                                       procfs::StateBit(12),
                                   /*with_meminfo=*/false);
            if (!half_open.ok()) return half_open.status();
            procfs::CountSynQueue(*half_open, *listeners);
          }
          const std::string netns = NetnsLabel(ns);
          for (const auto& [key, totals] : *listeners) {
            out.Gauge("tcpq_listener_syn_queue_length",
                      "Half-open connections (SYN_RECV) waiting for the "
                      "client's ACK.",
                      ListenerLabels(netns, key),
                      static_cast<double>(totals.syn_queue_length));
          }
          return absl::OkStatus();
        });
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSynqueueCollector() {
  return std::make_unique<SynqueueCollector>();
}

}  // namespace tcpq

// sockdiag: accept queue length, limit and drops of every listener, from the
// namespace's LISTEN-only sock_diag dump.

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "exporter/collector_registry.h"

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
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Collector>> NewSockdiagCollector() {
  return std::make_unique<SockdiagCollector>();
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(sockdiag, true,
               "Enable the sockdiag collector: accept queue length/limit and "
               "drops of every LISTEN socket (sock_diag, O(listeners)) per "
               "namespace.",
               tcpq::NewSockdiagCollector);

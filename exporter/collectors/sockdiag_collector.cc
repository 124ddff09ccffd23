// sockdiag: accept queue length, limit and drops of every listener, read with
// a LISTEN-only sock_diag dump in each network namespace.

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "exporter/collectors/collectors.h"
#include "exporter/collectors/listener_metrics.h"

ABSL_FLAG(bool, collector_sockdiag, true,
          "Enable the sockdiag collector: accept queue length/limit and drops "
          "of every LISTEN socket (sock_diag, O(listeners)) per namespace.");

namespace tcpq {
namespace {

class SockdiagCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    return ForEachNamespace(
        context, [&](const procfs::Netns& ns) -> absl::Status {
          absl::StatusOr<procfs::SockDiag> sock_diag = procfs::SockDiag::Open();
          if (!sock_diag.ok()) return sock_diag.status();
          absl::StatusOr<procfs::Listeners> listeners =
              DumpListeners(*sock_diag);
          if (!listeners.ok()) return listeners.status();
          const std::string netns = NetnsLabel(ns);
          for (const auto& [key, totals] : *listeners) {
            const Labels labels = ListenerLabels(netns, key);
            out.Gauge("tcpq_listener_sockets",
                      "LISTEN sockets on this address and port (>1 with "
                      "SO_REUSEPORT).",
                      labels, totals.sockets);
            out.Gauge(
                "tcpq_listener_accept_queue_length",
                "Connections completed and waiting for accept() (ss Recv-Q), "
                "summed over the SO_REUSEPORT group.",
                labels, static_cast<double>(totals.accept_queue_length));
            out.Gauge("tcpq_listener_accept_queue_limit",
                      "Accept queue capacity, min(listen backlog, "
                      "net.core.somaxconn) "
                      "(ss Send-Q), summed over the SO_REUSEPORT group.",
                      labels, static_cast<double>(totals.accept_queue_limit));
            if (totals.has_drops) {
              out.Counter(
                  "tcpq_listener_drops_total",
                  "SYNs and ACKs this listener dropped because its accept "
                  "or SYN queue was full (sk_drops, ss -tlnm d<N>).",
                  labels, static_cast<double>(totals.drops));
            }
          }
          return absl::OkStatus();
        });
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSockdiagCollector() {
  return std::make_unique<SockdiagCollector>();
}

}  // namespace tcpq

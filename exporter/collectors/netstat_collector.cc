// netstat: TcpExt counters of /proc/net/netstat, per network namespace.

#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bpf/mib_fields.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/mib_collector.h"

ABSL_FLAG(std::string, collector_netstat_fields, "",
          "Regex (RE2 syntax, full match) of further TcpExt field names to "
          "export, e.g. 'TCPFastOpen.*'. Names follow the README's rule.");

namespace tcpq {
namespace {

// The curated set, in the README's order, with what each means for an SRE.
constexpr MibField kTcpExtFields[] = {
    {"ListenOverflows", true,
     "Times a listener's accept queue was full when a handshake completed "
     "(connection dropped or reset)."},
    {"ListenDrops", true,
     "SYNs or ACKs dropped by a listener for any reason, overflows "
     "included."},
    {"TCPReqQFullDrop", true,
     "SYNs dropped because the SYN queue was full and SYN cookies were off."},
    {"TCPReqQFullDoCookies", true,
     "SYN cookies sent because the SYN queue was full."},
    {"SyncookiesSent", true, "SYN cookies sent."},
    {"SyncookiesRecv", true,
     "Valid SYN cookies received (connections completed from a cookie)."},
    {"SyncookiesFailed", true, "Invalid SYN cookies received."},
    {"TCPSynRetrans", true, "SYN and SYN-ACK retransmits."},
    {"TCPTimeouts", true, "Retransmission timeouts."},
    {"TCPLostRetransmit", true, "Retransmitted segments that were lost again."},
    {"TCPFastRetrans", true, "Fast retransmits."},
    {"TCPSlowStartRetrans", true, "Retransmits in slow start."},
    {"TCPSpuriousRTOs", true,
     "Retransmission timeouts found spurious by F-RTO."},
    {"TCPRetransFail", true,
     "Retransmits that failed to be sent (e.g. no memory)."},
    {"TCPAbortOnData", true,
     "Connections reset because data arrived after close."},
    {"TCPAbortOnClose", true,
     "Connections reset because the application closed with unread data."},
    {"TCPAbortOnMemory", true,
     "Connections reset for lack of memory or too many orphans."},
    {"TCPAbortOnTimeout", true,
     "Connections aborted after too many retransmits or keepalive probes."},
    {"TCPAbortOnLinger", true,
     "Connections reset on close because of SO_LINGER 0 timeouts."},
    {"TCPAbortFailed", true, "Resets that could not be sent."},
    {"TCPBacklogDrop", true,
     "Segments dropped because the socket backlog (owned by user) was full."},
    {"TCPRcvQDrop", true,
     "Segments dropped because the receive queue was full (memory)."},
    {"TCPDSACKRecv", true,
     "DSACKs received (a peer saw a duplicate: likely spurious retransmit)."},
    {"TCPDSACKOldSent", true, "DSACKs sent for old (already received) data."},
    {"TCPDSACKOfoSent", true, "DSACKs sent for out-of-order data."},
    {"TCPDSACKOfoRecv", true, "DSACKs received for out-of-order data."},
    {"TCPOFOQueue", true, "Segments queued out of order."},
    {"TCPOFODrop", true,
     "Out-of-order segments dropped (receive buffer full)."},
};

absl::StatusOr<std::unique_ptr<Collector>> NewNetstatCollector() {
  const std::string pattern = absl::GetFlag(FLAGS_collector_netstat_fields);
  std::unique_ptr<const re2::RE2> extra;
  if (!pattern.empty()) {
    extra = std::make_unique<const re2::RE2>(pattern, re2::RE2::Quiet);
    if (!extra->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--collector.netstat.fields: invalid regex \"", pattern,
                       "\": ", extra->error()));
    }
  }
  return std::make_unique<MibCollector>(
      MibSource{.file = "netstat",
                .section = "TcpExt",
                .prefix = "tcpq_netstat_",
                .bpf_mib = bpf::kLinuxMibPrefix,
                .fields = kTcpExtFields,
                .extra = std::move(extra)});
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(netstat, true,
               "Enable the netstat collector: TcpExt counters of "
               "/proc/net/netstat (ListenOverflows, ListenDrops, SYN cookies, "
               "retransmits, ...) per namespace.",
               tcpq::NewNetstatCollector, "collector.netstat.fields");

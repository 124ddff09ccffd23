// snmp: the Tcp MIB of /proc/net/snmp, per network namespace.

#include <memory>

#include "absl/status/statusor.h"
#include "bpf/mib_fields.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/mib_collector.h"

namespace tcpq {
namespace {

constexpr MibField kTcpFields[] = {
    {"ActiveOpens", true,
     "Connections opened by connect() (CLOSED -> SYN_SENT)."},
    {"PassiveOpens", true, "Connections accepted (LISTEN -> SYN_RECV)."},
    {"AttemptFails", true,
     "Connection attempts that failed (SYN_SENT/SYN_RECV -> CLOSED)."},
    {"EstabResets", true, "Established connections reset."},
    {"CurrEstab", false, "Connections currently ESTABLISHED or CLOSE_WAIT."},
    {"InSegs", true, "Segments received."},
    {"OutSegs", true, "Segments sent, retransmits excluded."},
    {"RetransSegs", true, "Segments retransmitted."},
    {"InErrs", true, "Segments received with errors."},
    {"OutRsts", true, "Segments sent with the RST flag."},
};

absl::StatusOr<std::unique_ptr<Collector>> NewSnmpCollector() {
  return std::make_unique<MibCollector>(MibSource{.file = "snmp",
                                                  .section = "Tcp",
                                                  .prefix = "tcpq_snmp_",
                                                  .bpf_mib = bpf::kTcpMibPrefix,
                                                  .fields = kTcpFields});
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(snmp, true,
               "Enable the snmp collector: the Tcp MIB of /proc/net/snmp "
               "(opens, resets, segments, retransmitted segments) per "
               "namespace.",
               tcpq::NewSnmpCollector);

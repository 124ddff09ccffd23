// snmp: the Tcp MIB of /proc/net/snmp, per network namespace.

#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "exporter/collectors/collectors.h"
#include "procfs/metric_name.h"
#include "procfs/proc_file.h"
#include "procfs/snmp_parser.h"

ABSL_FLAG(bool, collector_snmp, true,
          "Enable the snmp collector: the Tcp MIB of /proc/net/snmp (opens, "
          "resets, segments, retransmitted segments) per namespace.");

namespace tcpq {
namespace {

struct TcpField {
  const char* kernel_name;
  bool is_counter;
  const char* help;
};

constexpr TcpField kTcpFields[] = {
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

class SnmpCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    return ForEachNamespace(
        context, [&](const procfs::Netns& ns) -> absl::Status {
          absl::StatusOr<procfs::MibSection> tcp =
              procfs::ReadThreadMibSection("snmp", "Tcp");
          if (!tcp.ok()) return tcp.status();
          const Labels labels = {{"netns", NetnsLabel(ns)}};
          for (const TcpField& wanted : kTcpFields) {
            for (const auto& [field, value] : tcp->fields) {
              if (field != wanted.kernel_name) continue;
              const std::string name = absl::StrCat(
                  "tcpq_snmp_", procfs::MibFieldToSnakeCase(field));
              const std::string help =
                  absl::StrCat(wanted.help, " (Tcp ", field, ")");
              if (wanted.is_counter) {
                out.Counter(name + "_total", help, labels, value);
              } else {
                out.Gauge(name, help, labels, value);
              }
            }
          }
          return absl::OkStatus();
        });
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSnmpCollector() {
  return std::make_unique<SnmpCollector>();
}

}  // namespace tcpq

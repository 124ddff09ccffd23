// snmp: the Tcp MIB of /proc/net/snmp, per network namespace.

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "exporter/collectors/collectors.h"
#include "procfs/metric_name.h"
#include "procfs/namespace_files.h"
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

// What each field's metric and help text are called, derived once.
struct TcpFieldStrings {
  std::string metric;  // tcpq_snmp_active_opens_total
  std::string help;
  bool is_counter;
};

const absl::flat_hash_map<std::string, TcpFieldStrings>& Strings() {
  static const auto* strings = [] {
    auto* derived = new absl::flat_hash_map<std::string, TcpFieldStrings>;
    for (const TcpField& field : kTcpFields) {
      (*derived)[field.kernel_name] = {
          .metric = absl::StrCat("tcpq_snmp_",
                                 procfs::MibFieldToSnakeCase(field.kernel_name),
                                 field.is_counter ? "_total" : ""),
          .help = absl::StrCat(field.help, " (Tcp ", field.kernel_name, ")"),
          .is_counter = field.is_counter};
    }
    return derived;
  }();
  return *strings;
}

// /proc/net/snmp is about 1.3 KiB.
constexpr size_t kMaxSnmpText = 64 * 1024;

class SnmpCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    const absl::Status status =
        ForEachNamespace(context, [&](const procfs::Netns& ns) -> absl::Status {
          absl::StatusOr<procfs::MibSection> tcp;
          absl::Status read =
              files_.Read(ns.identity.inode,
                          [&](size_t, absl::string_view text) -> absl::Status {
                            tcp = procfs::ParseMibSection(text, "snmp", "Tcp");
                            return tcp.status();
                          });
          if (!read.ok()) return read;
          const Labels labels = {{"netns", NetnsLabel(ns)}};
          // In kernel order, which is also kTcpFields order.
          for (const auto& [field, value] : tcp->fields) {
            auto wanted = Strings().find(field);
            if (wanted == Strings().end()) continue;
            if (wanted->second.is_counter) {
              out.Counter(wanted->second.metric, wanted->second.help, labels,
                          value);
            } else {
              out.Gauge(wanted->second.metric, wanted->second.help, labels,
                        value);
            }
          }
          return absl::OkStatus();
        });
    files_.EndScrape();
    return status;
  }

 private:
  procfs::NamespaceFiles files_{{"/proc/thread-self/net/snmp"}, kMaxSnmpText};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSnmpCollector() {
  return std::make_unique<SnmpCollector>();
}

}  // namespace tcpq

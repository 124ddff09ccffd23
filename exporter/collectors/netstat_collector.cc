// netstat: TcpExt counters of /proc/net/netstat, per network namespace.

#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "exporter/collectors/collectors.h"
#include "procfs/metric_name.h"
#include "procfs/namespace_files.h"
#include "procfs/snmp_parser.h"
#include "re2/re2.h"

ABSL_FLAG(bool, collector_netstat, true,
          "Enable the netstat collector: TcpExt counters of /proc/net/netstat "
          "(ListenOverflows, ListenDrops, SYN cookies, retransmits, ...) per "
          "namespace.");
ABSL_FLAG(std::string, collector_netstat_fields, "",
          "Regex (RE2 syntax, full match) of further TcpExt field names to "
          "export, e.g. 'TCPFastOpen.*'. Names follow the README's rule.");

namespace tcpq {
namespace {

// The curated set, with what each means for an SRE.
const absl::flat_hash_map<std::string, std::string>& CuratedFields() {
  static const auto* fields = new absl::flat_hash_map<std::string, std::string>{
      {"ListenOverflows",
       "Times a listener's accept queue was full when a handshake completed "
       "(connection dropped or reset)."},
      {"ListenDrops",
       "SYNs or ACKs dropped by a listener for any reason, overflows "
       "included."},
      {"TCPReqQFullDrop",
       "SYNs dropped because the SYN queue was full and SYN cookies were off."},
      {"TCPReqQFullDoCookies",
       "SYN cookies sent because the SYN queue was full."},
      {"SyncookiesSent", "SYN cookies sent."},
      {"SyncookiesRecv",
       "Valid SYN cookies received (connections completed from a cookie)."},
      {"SyncookiesFailed", "Invalid SYN cookies received."},
      {"TCPSynRetrans", "SYN and SYN-ACK retransmits."},
      {"TCPTimeouts", "Retransmission timeouts."},
      {"TCPLostRetransmit", "Retransmitted segments that were lost again."},
      {"TCPFastRetrans", "Fast retransmits."},
      {"TCPSlowStartRetrans", "Retransmits in slow start."},
      {"TCPSpuriousRTOs", "Retransmission timeouts found spurious by F-RTO."},
      {"TCPRetransFail",
       "Retransmits that failed to be sent (e.g. no memory)."},
      {"TCPAbortOnData", "Connections reset because data arrived after close."},
      {"TCPAbortOnClose",
       "Connections reset because the application closed with unread data."},
      {"TCPAbortOnMemory",
       "Connections reset for lack of memory or too many orphans."},
      {"TCPAbortOnTimeout",
       "Connections aborted after too many retransmits or keepalive probes."},
      {"TCPAbortOnLinger",
       "Connections reset on close because of SO_LINGER 0 timeouts."},
      {"TCPAbortFailed", "Resets that could not be sent."},
      {"TCPBacklogDrop",
       "Segments dropped because the socket backlog (owned by user) was full."},
      {"TCPRcvQDrop",
       "Segments dropped because the receive queue was full (memory)."},
      {"TCPDSACKRecv",
       "DSACKs received (a peer saw a duplicate: likely spurious retransmit)."},
      {"TCPDSACKOldSent", "DSACKs sent for old (already received) data."},
      {"TCPDSACKOfoSent", "DSACKs sent for out-of-order data."},
      {"TCPDSACKOfoRecv", "DSACKs received for out-of-order data."},
      {"TCPOFOQueue", "Segments queued out of order."},
      {"TCPOFODrop", "Out-of-order segments dropped (receive buffer full)."},
  };
  return *fields;
}

// /proc/net/netstat is about 4 KiB; a kernel would need hundreds of new
// fields to outgrow this.
constexpr size_t kMaxNetstatText = 64 * 1024;

class NetstatCollector : public Collector {
 public:
  explicit NetstatCollector(std::unique_ptr<const re2::RE2> extra)
      : extra_(std::move(extra)) {}

  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    const absl::Status status =
        ForEachNamespace(context, [&](const procfs::Netns& ns) -> absl::Status {
          absl::StatusOr<procfs::MibSection> tcp_ext;
          absl::Status read = files_.Read(
              ns.identity.inode,
              [&](size_t, absl::string_view text) -> absl::Status {
                tcp_ext = procfs::ParseMibSection(text, "netstat", "TcpExt");
                return tcp_ext.status();
              });
          if (!read.ok()) return read;
          const Labels labels = {{"netns", NetnsLabel(ns)}};
          for (const auto& [field, value] : tcp_ext->fields) {
            const std::optional<FieldMetric>& metric = MetricFor(field);
            if (metric.has_value()) {
              out.Counter(metric->name, metric->help, labels, value);
            }
          }
          return absl::OkStatus();
        });
    files_.EndScrape();
    return status;
  }

 private:
  struct FieldMetric {
    std::string name;
    std::string help;
  };

  // The metric a TcpExt field is exported as, or nullopt when it is not
  // exported; derived once per field name, not per namespace per scrape.
  const std::optional<FieldMetric>& MetricFor(const std::string& field) {
    auto [it, inserted] = metrics_.try_emplace(field);
    if (!inserted) return it->second;
    std::string help;
    if (auto curated = CuratedFields().find(field);
        curated != CuratedFields().end()) {
      help = absl::StrCat(curated->second, " (TcpExt ", field, ")");
    } else if (extra_ && re2::RE2::FullMatch(field, *extra_)) {
      help = absl::StrCat("Kernel counter TcpExt ", field,
                          " of /proc/net/netstat.");
    } else {
      return it->second;
    }
    it->second =
        FieldMetric{absl::StrCat("tcpq_netstat_",
                                 procfs::MibFieldToSnakeCase(field), "_total"),
                    std::move(help)};
    return it->second;
  }

  const std::unique_ptr<const re2::RE2> extra_;  // null: curated set only
  procfs::NamespaceFiles files_{{"/proc/thread-self/net/netstat"},
                                kMaxNetstatText};
  // By TcpExt field name; the kernel has a fixed set of about 130.
  absl::flat_hash_map<std::string, std::optional<FieldMetric>> metrics_;
};

}  // namespace

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
  return std::make_unique<NetstatCollector>(std::move(extra));
}

}  // namespace tcpq

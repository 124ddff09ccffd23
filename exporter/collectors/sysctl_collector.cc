// sysctl: the settings that size and guard the SYN and accept queues, per
// network namespace.

#include <string>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "exporter/collectors/collectors.h"
#include "procfs/proc_file.h"

ABSL_FLAG(bool, collector_sysctl, true,
          "Enable the sysctl collector: somaxconn, tcp_max_syn_backlog, "
          "tcp_syncookies, tcp_abort_on_overflow, tcp_synack_retries, "
          "tcp_syn_retries per namespace.");

namespace tcpq {
namespace {

struct Sysctl {
  const char* name;  // dotted, as `sysctl` prints it
  const char* help;
};

constexpr Sysctl kSysctls[] = {
    {"net.core.somaxconn",
     "Upper bound of every listener's accept queue (listen() backlog is capped "
     "to it)."},
    {"net.ipv4.tcp_max_syn_backlog",
     "Bound of half-open connections (SYN queue) per listener."},
    {"net.ipv4.tcp_syncookies",
     "0 off, 1 send SYN cookies when the SYN queue overflows, 2 always."},
    {"net.ipv4.tcp_abort_on_overflow",
     "1: reset connections when the accept queue is full, instead of dropping "
     "the ACK."},
    {"net.ipv4.tcp_synack_retries",
     "SYN-ACK retransmits before a half-open connection is dropped."},
    {"net.ipv4.tcp_syn_retries",
     "SYN retransmits of connect() before it fails."},
};

class SysctlCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    return ForEachNamespace(
        context, [&](const procfs::Netns& ns) -> absl::Status {
          const Labels labels = {{"netns", NetnsLabel(ns)}};
          for (const Sysctl& sysctl : kSysctls) {
            const std::string path = absl::StrCat(
                "/proc/sys/", absl::StrReplaceAll(sysctl.name, {{".", "/"}}));
            absl::StatusOr<std::string> text = procfs::ReadFile(path);
            if (absl::IsNotFound(text.status())) continue;  // kernel lacks it
            if (!text.ok()) return text.status();
            int64_t value;
            if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) {
              return absl::DataLossError(
                  absl::StrCat(path, ": not an integer"));
            }
            out.Gauge(
                absl::StrCat("tcpq_sysctl_",
                             absl::StrReplaceAll(sysctl.name, {{".", "_"}})),
                absl::StrCat(sysctl.help, " (sysctl ", sysctl.name, ")"),
                labels, static_cast<double>(value));
          }
          return absl::OkStatus();
        });
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSysctlCollector() {
  return std::make_unique<SysctlCollector>();
}

}  // namespace tcpq

// sysctl: the settings that size and guard the SYN and accept queues, per
// network namespace.

#include <array>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "exporter/collector_registry.h"
#include "procfs/namespace_files.h"

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

constexpr size_t kSysctlCount = std::size(kSysctls);

// What each sysctl's file, metric and help text are called, derived once from
// kSysctls rather than on every scrape of every namespace.
struct SysctlStrings {
  std::string path;    // /proc/sys/net/core/somaxconn
  std::string metric;  // tcpq_sysctl_net_core_somaxconn
  std::string help;
};

const std::array<SysctlStrings, kSysctlCount>& Strings() {
  static const auto* strings = [] {
    auto* derived = new std::array<SysctlStrings, kSysctlCount>;
    for (size_t i = 0; i < kSysctlCount; ++i) {
      const Sysctl& sysctl = kSysctls[i];
      (*derived)[i] = {
          .path = absl::StrCat("/proc/sys/",
                               absl::StrReplaceAll(sysctl.name, {{".", "/"}})),
          .metric = absl::StrCat(
              "tcpq_sysctl_", absl::StrReplaceAll(sysctl.name, {{".", "_"}})),
          .help = absl::StrCat(sysctl.help, " (sysctl ", sysctl.name, ")")};
    }
    return derived;
  }();
  return *strings;
}

// A sysctl's value: an integer and a newline, far shorter than this.
constexpr size_t kMaxSysctlText = 64;

std::vector<std::string> SysctlPaths() {
  std::vector<std::string> paths;
  for (const SysctlStrings& strings : Strings()) paths.push_back(strings.path);
  return paths;
}

class SysctlCollector : public Collector {
 public:
  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    // Parsed whole before any is added: nothing partial per namespace.
    std::array<std::optional<int64_t>, kSysctlCount> values;
    absl::Status read = files_.Read(
        visit.inode(), [&](size_t i, absl::string_view text) -> absl::Status {
          int64_t value;
          if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
            return absl::DataLossError(
                absl::StrCat(Strings()[i].path, ": not an integer"));
          }
          values[i] = value;
          return absl::OkStatus();
        });
    if (!read.ok()) return read;
    const Labels labels = {{"netns", visit.label()}};
    for (size_t i = 0; i < kSysctlCount; ++i) {
      if (!values[i].has_value()) continue;
      out.Gauge(Strings()[i].metric, Strings()[i].help, labels,
                static_cast<double>(*values[i]));
    }
    return absl::OkStatus();
  }

  absl::Status CollectNode(const ScrapeContext&, MetricSet&) override {
    files_.EndScrape();
    return absl::OkStatus();
  }

 private:
  procfs::NamespaceFiles files_{SysctlPaths(), kMaxSysctlText};
};

absl::StatusOr<std::unique_ptr<Collector>> NewSysctlCollector() {
  return std::make_unique<SysctlCollector>();
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(sysctl, true,
               "Enable the sysctl collector: somaxconn, tcp_max_syn_backlog, "
               "tcp_syncookies, tcp_abort_on_overflow, tcp_synack_retries, "
               "tcp_syn_retries per namespace.",
               tcpq::NewSysctlCollector);

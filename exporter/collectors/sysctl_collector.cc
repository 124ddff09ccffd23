// sysctl: the settings that size and guard the SYN and accept queues, per
// network namespace (TCPQ_SYSCTL_LIST): read from /proc/sys/net in a
// namespace's first scrape, then, with the bpf collector on, from the
// namespace's struct net in the scrape's BPF pass (read_netns).

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
#include "bpf/tcpq.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/bpf_shared.h"
#include "procfs/namespace_files.h"

namespace tcpq {
namespace {

struct Sysctl {
  const char* name;  // dotted, as `sysctl` prints it
  const char* help;
};

constexpr Sysctl kSysctls[] = {
#define TCPQ_SYSCTL_ENTRY(id, name, member, help) {name, help},
    TCPQ_SYSCTL_LIST(TCPQ_SYSCTL_ENTRY)
#undef TCPQ_SYSCTL_ENTRY
};

constexpr size_t kSysctlCount = std::size(kSysctls);
static_assert(kSysctlCount == TCPQ_SYSCTLS);
// tcpq_netns_record::sysctls_read when every sysctl was read.
constexpr unsigned kAllSysctlsRead = (1u << kSysctlCount) - 1;

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
  absl::Status ReadAllNamespaces(NodeSnapshot& snapshot) override {
    SharedBpf* shared = SharedBpf::GetIfOn();
    return shared == nullptr ? absl::OkStatus() : shared->ReadNetns(snapshot);
  }

  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    // Parsed whole before any is added: nothing partial per namespace.
    std::array<std::optional<int64_t>, kSysctlCount> values;
    if (const tcpq_netns_record* record = visit.Record();
        record != nullptr && record->sysctls_read == kAllSysctlsRead) {
      for (size_t i = 0; i < kSysctlCount; ++i) values[i] = record->sysctls[i];
    } else {
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
      // From the next scrape on, the namespace is read from BPF.
      if (SharedBpf* shared = SharedBpf::GetIfOn()) {
        if (absl::Status anchored = shared->AnchorOnce(visit.inode());
            !anchored.ok()) {
          return anchored;
        }
      }
    }
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

// sysctl: the settings that size and guard the SYN and accept queues, per
// network namespace.

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "exporter/collectors/collectors.h"
#include "procfs/unique_fd.h"

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

// One namespace's sysctl files, opened inside it. Kept open from scrape to
// scrape: on the CI machine opening a /proc/sys file costs 18 µs and reading
// it again 1.5 µs, and there are six per namespace. An open file does not
// keep its namespace alive; once the namespace is gone, reading it fails
// with ENOENT.
struct NamespaceFiles {
  std::array<UniqueFd, kSysctlCount> files;  // invalid: the kernel lacks it
};

absl::StatusOr<NamespaceFiles> OpenFiles() {
  NamespaceFiles opened;
  for (size_t i = 0; i < kSysctlCount; ++i) {
    const std::string& path = Strings()[i].path;
    opened.files[i].Reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!opened.files[i].valid() && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    }
  }
  return opened;
}

// Values of the files that exist, in kSysctls order.
absl::StatusOr<std::array<std::optional<int64_t>, kSysctlCount>> ReadValues(
    const NamespaceFiles& opened) {
  std::array<std::optional<int64_t>, kSysctlCount> values;
  for (size_t i = 0; i < kSysctlCount; ++i) {
    if (!opened.files[i].valid()) continue;
    const std::string& path = Strings()[i].path;
    // One read: an integer sysctl is far shorter than the buffer, and the
    // kernel formats it whole on the first read.
    char text[64];
    const ssize_t n =
        ::pread(opened.files[i].get(), text, sizeof(text), /*offset=*/0);
    // ENOENT (NotFound): the namespace is gone.
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    int64_t value;
    if (static_cast<size_t>(n) == sizeof(text) ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(
                              absl::string_view(text, static_cast<size_t>(n))),
                          &value)) {
      return absl::DataLossError(absl::StrCat(path, ": not an integer"));
    }
    values[i] = value;
  }
  return values;
}

class SysctlCollector : public Collector {
 public:
  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    absl::flat_hash_map<uint64_t, NamespaceFiles> kept;
    const absl::Status status =
        ForEachNamespace(context, [&](const procfs::Netns& ns) -> absl::Status {
          auto cached = open_.extract(ns.identity.inode);
          absl::StatusOr<NamespaceFiles> opened =
              cached.empty() ? OpenFiles() : std::move(cached.mapped());
          if (!opened.ok()) return opened.status();
          auto values = ReadValues(*opened);
          if (absl::IsNotFound(values.status()) && !cached.empty()) {
            // Files of a namespace that died and whose inode number a new
            // one reuses: open the new namespace's.
            opened = OpenFiles();
            if (!opened.ok()) return opened.status();
            values = ReadValues(*opened);
          }
          if (!values.ok()) return values.status();
          const Labels labels = {{"netns", NetnsLabel(ns)}};
          for (size_t i = 0; i < kSysctlCount; ++i) {
            if (!(*values)[i].has_value()) continue;
            out.Gauge(Strings()[i].metric, Strings()[i].help, labels,
                      static_cast<double>(*(*values)[i]));
          }
          kept[ns.identity.inode] = *std::move(opened);
          return absl::OkStatus();
        });
    // Files of namespaces this scrape did not find are closed here.
    open_ = std::move(kept);
    return status;
  }

 private:
  absl::flat_hash_map<uint64_t, NamespaceFiles> open_;  // by netns inode
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewSysctlCollector() {
  return std::make_unique<SysctlCollector>();
}

}  // namespace tcpq

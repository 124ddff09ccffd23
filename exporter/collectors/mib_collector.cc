#include "exporter/collectors/mib_collector.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "procfs/metric_name.h"
#include "procfs/snmp_parser.h"

namespace tcpq {
namespace {

// /proc/net/netstat is about 4 KiB, /proc/net/snmp 1.3 KiB; a kernel would
// need hundreds of new fields to outgrow this.
constexpr size_t kMaxMibText = 64 * 1024;

}  // namespace

MibCollector::MibCollector(MibSource source)
    : source_(std::move(source)),
      files_({absl::StrCat("/proc/thread-self/net/", source_.file)},
             kMaxMibText) {}

absl::Status MibCollector::CollectNamespace(NamespaceVisit& visit,
                                            MetricSet& out) {
  absl::StatusOr<procfs::MibSection> section;
  absl::Status read = files_.Read(
      visit.inode(), [&](size_t, absl::string_view text) -> absl::Status {
        section = procfs::ParseMibSection(text, source_.file, source_.section);
        return section.status();
      });
  if (!read.ok()) return read;
  std::vector<std::pair<const FieldMetric*, double>> exported;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [field, value] : section->fields) {
      if (const FieldMetric* metric = MetricFor(field); metric != nullptr) {
        exported.emplace_back(metric, value);
      }
    }
  }
  const Labels labels = {{"netns", visit.label()}};
  // In kernel order.
  for (const auto& [metric, value] : exported) {
    if (metric->is_counter) {
      out.Counter(metric->name, metric->help, labels, value);
    } else {
      out.Gauge(metric->name, metric->help, labels, value);
    }
  }
  return absl::OkStatus();
}

absl::Status MibCollector::CollectNode(const ScrapeContext&, MetricSet&) {
  files_.EndScrape();
  return absl::OkStatus();
}

const MibCollector::FieldMetric* MibCollector::MetricFor(
    const std::string& field) {
  auto [it, inserted] = metrics_.try_emplace(field);
  if (!inserted) return it->second.has_value() ? &*it->second : nullptr;
  std::string help;
  bool is_counter = true;
  for (const MibField& wanted : source_.fields) {
    if (field == wanted.kernel_name) {
      help = absl::StrCat(wanted.help, " (", source_.section, " ", field, ")");
      is_counter = wanted.is_counter;
      break;
    }
  }
  if (help.empty()) {
    if (source_.extra == nullptr ||
        !re2::RE2::FullMatch(field, *source_.extra)) {
      return nullptr;
    }
    help = absl::StrCat("Kernel counter ", source_.section, " ", field,
                        " of /proc/net/", source_.file, ".");
  }
  it->second = FieldMetric{
      .name = absl::StrCat(source_.prefix, procfs::MibFieldToSnakeCase(field),
                           is_counter ? "_total" : ""),
      .help = std::move(help),
      .is_counter = is_counter};
  return &*it->second;
}

}  // namespace tcpq

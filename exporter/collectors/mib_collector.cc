#include "exporter/collectors/mib_collector.h"

#include <span>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bpf/mib_fields.h"
#include "bpf/walk_records.h"
#include "exporter/collectors/bpf_shared.h"
#include "exporter/log.h"
#include "procfs/metric_name.h"

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

absl::Status MibCollector::ReadAllNamespaces(NodeSnapshot& snapshot) {
  return BpfFields() != nullptr ? SharedBpf::Get().ReadNetns(snapshot)
                                : absl::OkStatus();
}

absl::Status MibCollector::CollectNamespace(NamespaceVisit& visit,
                                            MetricSet& out) {
  if (const tcpq_netns_record* record = visit.Record();
      record != nullptr && CollectFromRecord(visit, *record, out)) {
    return absl::OkStatus();
  }
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
    if (!bpf_fields_.has_value()) ResolveBpfFields(*section);
  }
  const Labels labels = {{"netns", visit.label()}};
  // In kernel order.
  for (const auto& [metric, value] : exported) {
    Export(*metric, labels, value, out);
  }
  // From the next scrape on, the namespace is read from BPF.
  return BpfFields() != nullptr ? SharedBpf::Get().AnchorOnce(visit.inode())
                                : absl::OkStatus();
}

bool MibCollector::CollectFromRecord(const NamespaceVisit& visit,
                                     const tcpq_netns_record& record,
                                     MetricSet& out) {
  const std::span<const __u64> entries = source_.bpf_mib == bpf::kTcpMibPrefix
                                             ? bpf::TcpMibEntries(record)
                                             : bpf::LinuxMibEntries(record);
  const std::vector<BpfField>* fields = BpfFields();
  if (fields == nullptr) return false;
  for (const BpfField& field : *fields) {
    if (static_cast<size_t>(field.index) >= entries.size()) return false;
  }
  const Labels labels = {{"netns", visit.label()}};
  for (const BpfField& field : *fields) {
    const uint64_t value = entries[field.index];
    Export(*field.metric, labels,
           field.is_signed ? static_cast<double>(static_cast<int64_t>(value))
                           : static_cast<double>(value),
           out);
  }
  return true;
}

void MibCollector::Export(const FieldMetric& metric, const Labels& labels,
                          double value, MetricSet& out) const {
  if (metric.is_counter) {
    out.Counter(metric.name, metric.help, labels, value);
  } else {
    out.Gauge(metric.name, metric.help, labels, value);
  }
}

const std::vector<MibCollector::BpfField>* MibCollector::BpfFields() {
  absl::MutexLock lock(&mutex_);
  // Once resolved, fixed: the pointer stays valid without the lock.
  return bpf_fields_.has_value() && bpf_fields_->ok() ? &**bpf_fields_
                                                      : nullptr;
}

void MibCollector::ResolveBpfFields(const procfs::MibSection& section) {
  const SharedBpf* shared = SharedBpf::GetIfOn();
  if (shared == nullptr || !shared->CanReadNetns()) {
    bpf_fields_ = absl::FailedPreconditionError("read_netns is off");
    return;
  }
  const bpf::Programs* programs = shared->programs();
  std::vector<BpfField> fields;
  for (const auto& [field, value] : section.fields) {
    const FieldMetric* metric = MetricFor(field);
    if (metric == nullptr) continue;
    const std::optional<int> index =
        bpf::MibFieldIndex(programs->mib_enumerators(), source_.bpf_mib, field);
    if (!index.has_value() || *index < 0) {
      bpf_fields_ = absl::NotFoundError(absl::StrCat(
          "no ", source_.bpf_mib, "* entry in the kernel's BTF for ",
          source_.section, " ", field));
      log::Warn(
          "reading every namespace's MIB files instead of the MIBs from BPF",
          {{"collector", source_.file},
           {"err", bpf_fields_->status().ToString()}});
      return;
    }
    fields.push_back(BpfField{
        .metric = metric,
        .index = *index,
        .is_signed =
            source_.bpf_mib == bpf::kTcpMibPrefix && field == "MaxConn"});
  }
  bpf_fields_ = std::move(fields);
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

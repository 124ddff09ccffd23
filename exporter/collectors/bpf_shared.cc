#include "exporter/collectors/bpf_shared.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bpf/walk_records.h"

ABSL_DECLARE_FLAG(bool, collector_bpf);
ABSL_DECLARE_FLAG(bool, collector_bpf_histogram_netns);

namespace tcpq {

SharedBpf& SharedBpf::Get() {
  static SharedBpf* shared = new SharedBpf();
  return *shared;
}

SharedBpf* SharedBpf::GetIfOn() {
  return absl::GetFlag(FLAGS_collector_bpf) ? &Get() : nullptr;
}

SharedBpf::SharedBpf() {
  bpf::LoadOptions options;
  options.histograms_by_netns =
      absl::GetFlag(FLAGS_collector_bpf_histogram_netns);
  if (const char* no_btf = std::getenv("TCPQ_BPF_NO_TP_BTF");
      no_btf != nullptr && std::string(no_btf) == "1") {
    options.allow_tp_btf = false;
  }
  if (const char* skip = std::getenv("TCPQ_BPF_SKIP"); skip != nullptr) {
    options.skip = absl::StrSplit(skip, ',', absl::SkipEmpty());
  }
  if (const char* hooks = std::getenv("TCPQ_BPF_BREAK_TP_BTF");
      hooks != nullptr) {
    options.break_tp_btf = absl::StrSplit(hooks, ',', absl::SkipEmpty());
  }
  if (const char* max = std::getenv("TCPQ_BPF_MAX_NETNS"); max != nullptr) {
    if (!absl::SimpleAtoi(max, &options.max_netns)) options.max_netns = 0;
  }
  if (const char* size = std::getenv("TCPQ_BPF_WALK_READ_SIZE");
      size != nullptr) {
    if (!absl::SimpleAtoi(size, &options.walk_read_size)) {
      options.walk_read_size = 0;
    }
  }
  absl::StatusOr<std::unique_ptr<bpf::Programs>> programs =
      bpf::Programs::Load(options);
  if (programs.ok()) {
    programs_ = *std::move(programs);
  } else {
    // Logged once by the scraper when the first scrape fails (never here:
    // a bad flag of a later collector must stay the only line on stderr).
    load_error_ = absl::Status(
        programs.status().code(),
        absl::StrCat(
            "BPF is off: ", programs.status().message(),
            programs.status().code() == absl::StatusCode::kPermissionDenied
                ? " (loading BPF needs CAP_BPF and CAP_PERFMON, or "
                  "CAP_SYS_ADMIN; podman's and Docker's default seccomp "
                  "profiles allow bpf() only with CAP_SYS_ADMIN)"
                : ""));
  }
}

absl::Status SharedBpf::SeedOnce(uint64_t inode) {
  if (programs_ == nullptr || !programs_->can_seed()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mutex_);
    if (seeded_.contains(inode)) return absl::OkStatus();
  }
  // Outside the lock: other namespaces seed at the same time on other
  // threads, and one namespace is only ever visited by one thread at once.
  if (absl::Status seed = programs_->SeedCallingThreadNetns(); !seed.ok()) {
    return seed;
  }
  absl::MutexLock lock(&mutex_);
  seeded_.insert(inode);
  return absl::OkStatus();
}

absl::Status SharedBpf::AnchorOnce(uint64_t inode) {
  if (!CanReadNetns()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mutex_);
    if (anchors_.contains(inode)) return absl::OkStatus();
  }
  // A UDP socket that is never bound: no TCP count, no table, no port.
  UniqueFd anchor(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!anchor.valid()) {
    return absl::UnavailableError(
        absl::StrCat("opening a socket to read the namespace through BPF: ",
                     std::strerror(errno)));
  }
  if (absl::Status anchored = programs_->AnchorNamespace(anchor.get());
      !anchored.ok()) {
    return anchored;
  }
  absl::MutexLock lock(&mutex_);
  anchors_.emplace(inode, std::move(anchor));
  return absl::OkStatus();
}

absl::Status SharedBpf::ReadNetns(NodeSnapshot& snapshot) {
  if (snapshot.records.has_value() || !CanReadNetns()) return absl::OkStatus();
  NetnsRecords records;
  bpf::RecordReader<tcpq_netns_record> reader;
  absl::Status read = programs_->ReadNetns([&](std::span<const uint8_t> chunk) {
    reader.Feed(chunk, [&](const tcpq_netns_record& record) {
      // A CPU's copy that could not be read leaves the namespace to its
      // /proc files.
      if (record.cpus == static_cast<uint32_t>(programs_->possible_cpus())) {
        records[record.netns] = record;
      }
    });
  });
  if (read.ok()) read = reader.Finish();
  if (!read.ok()) return read;
  snapshot.records = std::move(records);
  return absl::OkStatus();
}

void SharedBpf::Retain(const std::vector<procfs::Netns>& namespaces) {
  absl::flat_hash_set<uint64_t> found;
  for (const procfs::Netns& ns : namespaces) found.insert(ns.identity.inode);
  absl::MutexLock lock(&mutex_);
  absl::erase_if(seeded_,
                 [&](uint64_t inode) { return !found.contains(inode); });
  absl::erase_if(anchors_, [&](const auto& entry) {
    return !found.contains(entry.first);
  });
}

absl::flat_hash_set<uint64_t> SharedBpf::Seeded() const {
  absl::MutexLock lock(&mutex_);
  return seeded_;
}

}  // namespace tcpq

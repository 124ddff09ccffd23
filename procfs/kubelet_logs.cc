#include "procfs/kubelet_logs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tcpq::procfs {
namespace {

bool IsLowerAlnum(char c) {
  return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
         (c >= 'a' && c <= 'z');
}

// RFC 1123 label: a Kubernetes namespace or container name.
bool IsDnsLabel(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// RFC 1123 subdomain: a pod name.
bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!IsDnsLabel(label)) return false;
  }
  return true;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
        (c < 'a' || c > 'f')) {
      return false;
    }
  }
  return true;
}

// A UUID as the API server writes it, or a static pod's config hash.
bool IsPodUid(absl::string_view s) {
  if (s.size() == 32) return IsLowerHex(s);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsLowerHex(s.substr(i, 1))) return false;
  }
  return true;
}

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

std::optional<PodName> ParsePodLogDir(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '_');
  if (parts.size() != 3 || !IsDnsLabel(parts[0]) || !IsDnsSubdomain(parts[1]) ||
      !IsPodUid(parts[2])) {
    return std::nullopt;
  }
  return PodName{std::string(parts[0]), std::string(parts[1]),
                 std::string(parts[2])};
}

std::optional<ContainerLog> ParseContainerLogName(absl::string_view name) {
  if (!absl::ConsumeSuffix(&name, ".log")) return std::nullopt;
  const size_t dash = name.rfind('-');
  if (dash == absl::string_view::npos) return std::nullopt;
  const absl::string_view id = name.substr(dash + 1);
  if (id.size() != 64 || !IsLowerHex(id)) return std::nullopt;
  std::vector<absl::string_view> parts =
      absl::StrSplit(name.substr(0, dash), '_');
  if (parts.size() != 3 || !IsDnsSubdomain(parts[0]) || !IsDnsLabel(parts[1]) ||
      !IsDnsLabel(parts[2])) {
    return std::nullopt;
  }
  return ContainerLog{std::string(parts[0]), std::string(parts[1]),
                      std::string(parts[2]), std::string(id)};
}

bool KubeletLogs::DirStamp::operator==(const DirStamp& o) const {
  return exists == o.exists && inode == o.inode &&
         mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
         ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
}

KubeletLogs::KubeletLogs(std::string varlog)
    : pods_dir_(absl::StrCat(varlog, "/pods")),
      containers_dir_(absl::StrCat(varlog, "/containers")) {}

template <typename Add>
absl::Status KubeletLogs::Reread(const std::string& dir, DirStamp& stamp,
                                 bool& changed, Add add) {
  struct stat st {};
  DirStamp now;
  if (::stat(dir.c_str(), &st) == 0) {
    now = {true, st.st_ino, st.st_mtim, st.st_ctim};
  } else if (errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", dir));
  }
  changed = !(now == stamp);
  if (!changed || !now.exists) {
    stamp = now;
    return absl::OkStatus();
  }
  std::unique_ptr<DIR, DirCloser> listing(::opendir(dir.c_str()));
  if (listing == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opendir ", dir));
  }
  while (const dirent* entry = ::readdir(listing.get())) {
    const absl::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    add(name);
  }
  // Stamped once listed: a change during the listing is seen next time.
  stamp = now;
  return absl::OkStatus();
}

void KubeletLogs::Reject(absl::string_view name, Refreshed& refreshed) {
  // Bounded: a directory full of junk cannot grow the exporter.
  constexpr size_t kMaxReported = 1000;
  if (reported_.size() >= kMaxReported || reported_.contains(name)) return;
  reported_.emplace(name);
  refreshed.rejected.emplace_back(name);
}

KubeletLogs::Refreshed KubeletLogs::Refresh() {
  Refreshed refreshed;
  absl::flat_hash_map<std::string, PodName> pods;
  bool changed = false;
  refreshed.error =
      Reread(pods_dir_, pods_stamp_, changed, [&](absl::string_view name) {
        if (std::optional<PodName> pod = ParsePodLogDir(name)) {
          pods[pod->uid] = *std::move(pod);
        } else {
          Reject(absl::StrCat(pods_dir_, "/", name), refreshed);
        }
      });
  if (changed && refreshed.error.ok()) pods_ = std::move(pods);

  absl::flat_hash_map<std::string, ContainerLog> containers;
  const absl::Status containers_error = Reread(
      containers_dir_, containers_stamp_, changed, [&](absl::string_view name) {
        if (std::optional<ContainerLog> log = ParseContainerLogName(name)) {
          containers[log->container_id] = *std::move(log);
        } else {
          Reject(absl::StrCat(containers_dir_, "/", name), refreshed);
        }
      });
  if (changed && containers_error.ok()) containers_ = std::move(containers);
  if (refreshed.error.ok()) refreshed.error = containers_error;
  return refreshed;
}

const PodName* KubeletLogs::Pod(absl::string_view uid) const {
  auto it = pods_.find(uid);
  return it == pods_.end() ? nullptr : &it->second;
}

const ContainerLog* KubeletLogs::Container(
    absl::string_view container_id) const {
  auto it = containers_.find(container_id);
  return it == containers_.end() ? nullptr : &it->second;
}

}  // namespace tcpq::procfs

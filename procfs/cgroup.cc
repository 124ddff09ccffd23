#include "procfs/cgroup.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace tcpq::procfs {
namespace {

constexpr size_t kUidLength = 36;
constexpr size_t kContainerIdLength = 64;

bool IsUid(absl::string_view s) {
  if (s.size() != kUidLength) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position
            ? (s[i] != '-' && s[i] != '_')
            : !absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

bool IsContainerId(absl::string_view s) {
  if (s.size() != kContainerIdLength) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "kubepods-burstable-pod<uid>.slice" or "pod<uid>" -> "<uid>" with dashes.
std::string PodUidFromSegment(absl::string_view segment) {
  absl::ConsumeSuffix(&segment, ".slice");
  const size_t pod = segment.rfind("pod");
  if (pod == absl::string_view::npos) return "";
  absl::string_view uid = segment.substr(pod + 3);
  if (!IsUid(uid)) return "";
  std::string out(uid);
  for (char& c : out) {
    if (c == '_') c = '-';  // systemd escapes '-' in unit names as '_'
  }
  return out;
}

// "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope", "<id>".
std::string ContainerIdFromSegment(absl::string_view segment) {
  absl::ConsumeSuffix(&segment, ".scope");
  const size_t dash = segment.rfind('-');
  if (dash != absl::string_view::npos) segment = segment.substr(dash + 1);
  return IsContainerId(segment) ? std::string(segment) : "";
}

}  // namespace

PodIdentity ParsePodIdentity(absl::string_view cgroup_file) {
  for (absl::string_view line : absl::StrSplit(cgroup_file, '\n')) {
    // "hierarchy-ID:controllers:path"; the path may itself contain ':'.
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3 || !absl::StrContains(parts[2], "kubepods")) continue;
    PodIdentity identity;
    for (absl::string_view segment :
         absl::StrSplit(parts[2], '/', absl::SkipEmpty())) {
      if (std::string uid = PodUidFromSegment(segment); !uid.empty()) {
        identity.pod_uid = std::move(uid);
      } else if (std::string id = ContainerIdFromSegment(segment);
                 !id.empty()) {
        identity.container_id = std::move(id);
      }
    }
    if (!identity.pod_uid.empty()) return identity;
  }
  return {};
}

}  // namespace tcpq::procfs

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
constexpr size_t kStaticPodUidLength = 32;
constexpr size_t kContainerIdLength = 64;

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A pod UID: a UUID, or for a static pod the 32 hex digits of its config
// hash, which the kubelet uses instead.
bool IsUid(absl::string_view s) {
  if (s.size() == kStaticPodUidLength) return IsHex(s);
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
  return s.size() == kContainerIdLength && IsHex(s);
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

// "cri-containerd-<id>.scope", "crio-<id>.scope", "docker-<id>.scope",
// "libpod-<id>", "<id>".
std::string ContainerIdFromSegment(absl::string_view segment) {
  absl::ConsumeSuffix(&segment, ".scope");
  const size_t dash = segment.rfind('-');
  if (dash != absl::string_view::npos) segment = segment.substr(dash + 1);
  return IsContainerId(segment) ? std::string(segment) : "";
}

struct Line {
  absl::string_view controllers;
  absl::string_view path;
};

// "hierarchy-ID:controllers:path"; the path may itself contain ':'.
std::vector<Line> Lines(absl::string_view text) {
  std::vector<Line> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() == 3) lines.push_back({parts[1], parts[2]});
  }
  return lines;
}

// The path systemd manages: the cgroup v2 line ("0::"), else v1's
// name=systemd hierarchy.
absl::string_view SystemdPath(const std::vector<Line>& lines) {
  for (const Line& line : lines) {
    if (line.controllers.empty()) return line.path;
  }
  for (const Line& line : lines) {
    if (line.controllers == "name=systemd") return line.path;
  }
  return "";
}

}  // namespace

CgroupIdentity ParseCgroup(absl::string_view cgroup_file) {
  const std::vector<Line> lines = Lines(cgroup_file);
  CgroupIdentity identity;
  // The pod and its container: the first path that names a pod (v1 lists
  // the same path once per controller).
  for (const Line& line : lines) {
    if (!absl::StrContains(line.path, "kubepods")) continue;
    CgroupIdentity pod;
    for (absl::string_view segment :
         absl::StrSplit(line.path, '/', absl::SkipEmpty())) {
      if (std::string uid = PodUidFromSegment(segment); !uid.empty()) {
        pod.pod_uid = std::move(uid);
      } else if (std::string id = ContainerIdFromSegment(segment);
                 !id.empty()) {
        pod.container_id = std::move(id);
      }
    }
    if (!pod.pod_uid.empty()) {
      identity = std::move(pod);
      break;
    }
  }
  const absl::string_view systemd = SystemdPath(lines);
  for (absl::string_view segment :
       absl::StrSplit(systemd, '/', absl::SkipEmpty())) {
    if (absl::EndsWith(segment, ".service") && segment.size() > 8) {
      identity.unit = std::string(segment);
    }
    // A container outside Kubernetes (Docker, Podman).
    if (identity.pod_uid.empty()) {
      if (std::string id = ContainerIdFromSegment(segment); !id.empty()) {
        identity.container_id = std::move(id);
      }
    }
  }
  return identity;
}

}  // namespace tcpq::procfs

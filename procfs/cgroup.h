#pragma once

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace tcpq::procfs {

// The Kubernetes identity of a process, read from its /proc/<pid>/cgroup.
struct PodIdentity {
  std::string pod_uid;       // "3f7d1c2a-1b2c-4d5e-8f90-123456789abc" or ""
  std::string container_id;  // 64 hex digits or ""

  bool operator==(const PodIdentity&) const = default;
};

// Finds the pod UID and container ID in the text of /proc/<pid>/cgroup, for
// both cgroup drivers: systemd ("kubepods-burstable-pod<uid with _>.slice/
// cri-containerd-<id>.scope") and cgroupfs
// ("/kubepods/burstable/pod<uid>/<id>"). Outside Kubernetes both fields are
// empty. Never fails: unknown text yields empty fields.
PodIdentity ParsePodIdentity(absl::string_view cgroup_file);

}  // namespace tcpq::procfs

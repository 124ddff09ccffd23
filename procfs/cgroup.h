#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tcpq::procfs {

// Who a process is, as far as its /proc/<pid>/cgroup tells.
struct CgroupIdentity {
  // "3f7d1c2a-1b2c-4d5e-8f90-123456789abc", 32 hex digits for a static
  // pod, or "".
  std::string pod_uid;
  std::string container_id;  // 64 hex digits or ""
  std::string unit;          // the systemd service, "nginx.service", or ""

  bool operator==(const CgroupIdentity&) const = default;
};

// Reads the text of /proc/<pid>/cgroup (cgroup v1, v2 or both):
// - pod_uid from a kubepods path, for both kubelet cgroup drivers: systemd
//   ("kubepods-burstable-pod<uid with _>.slice") and cgroupfs
//   ("/kubepods/burstable/pod<uid>");
// - container_id from the innermost container segment: containerd
//   "cri-containerd-<id>.scope", CRI-O "crio-<id>.scope", Docker
//   "docker-<id>.scope" or "/docker/<id>", Podman "libpod-<id>[.scope]", or a
//   bare "<id>" (cgroupfs driver);
// - unit from the innermost "*.service" segment of the systemd path (the
//   cgroup v2 line, else v1's name=systemd), so "/system.slice/nginx.service"
//   gives "nginx.service".
// Never fails: text it does not recognise yields empty fields.
CgroupIdentity ParseCgroup(absl::string_view cgroup_file);

}  // namespace tcpq::procfs

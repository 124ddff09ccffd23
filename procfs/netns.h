#pragma once

// Discovery of network namespaces: every distinct namespace reachable through
// <procfs>/<pid>/ns/net and <run_netns>/<name>, deduplicated by inode. Each
// found namespace is held open by an fd for the duration of a scrape, so it
// cannot disappear while it is being read.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "procfs/cgroup.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

struct NetnsIdentity {
  uint64_t inode = 0;        // what `ls -l /proc/<pid>/ns/net` shows
  std::string name;          // the /run/netns entry naming it, or ""
  std::string pod_uid;       // from the cgroup of its lowest PID, or ""
  std::string container_id;  // likewise, usually the pod sandbox
  // The pod's Kubernetes namespace and name (kubelet's log directories),
  // set by the caller of DiscoverNamespaces, or "".
  std::string kube_namespace;
  std::string pod;
};

struct Netns {
  NetnsIdentity identity;
  UniqueFd fd;  // open nsfs handle, usable with setns(2)
  // The processes in it, ascending (with --netns=host: none listed).
  std::vector<int> pids;
};

struct DiscoveryOptions {
  std::string procfs = "/proc";          // where to list processes
  std::string run_netns = "/run/netns";  // named namespaces (`ip netns`)
  std::string varlog = "/var/log";       // kubelet's pods/ and containers/
  bool all = true;  // false: only the exporter's own namespace
};

// The exporter's own namespace first, then the others in PID order, then
// named namespaces no process is in. A process or a name that vanishes while
// we look is skipped silently: that is normal churn, not an error. Fails only
// when the exporter's own namespace cannot be opened.
//
// `cache`, if given, keeps what the call learnt of each namespace it found
// until the next call (see DiscoveryCache).
//
// What DiscoverNamespaces keeps from one call to the next, by netns inode,
// for the namespaces the last call found:
// - an open handle: a namespace seen before then costs the one stat() of
//   /proc/<pid>/ns/net that every process costs, not an open() and two
//   more checks. Held open, a namespace cannot go away, so its inode cannot
//   name another namespace meanwhile;
// - what the cgroup of its lowest PID said, read again only when that PID
//   changes (a pod's sandbox lives as long as the pod).
struct DiscoveryCache {
  absl::flat_hash_map<uint64_t, UniqueFd> handles;
  absl::flat_hash_map<uint64_t, std::pair<int, CgroupIdentity>> cgroups;
};
struct Discovered {
  std::vector<Netns> namespaces;
  // Processes whose namespace the kernel would not let us see (EACCES,
  // EPERM: reading another process's /proc/<pid>/ns needs CAP_SYS_PTRACE).
  // Their namespaces are missing unless another process or name shows them.
  int denied = 0;
};
absl::StatusOr<Discovered> DiscoverNamespaces(const DiscoveryOptions& options,
                                              DiscoveryCache* cache = nullptr);

}  // namespace tcpq::procfs

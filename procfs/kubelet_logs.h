#pragma once

// Pod and container names from the kubelet's log directories, so that a
// node alone (no API server, no RBAC) names its workloads:
//   <varlog>/pods/<namespace>_<pod>_<uid>/                 one per pod
//   <varlog>/containers/<pod>_<namespace>_<container>-<container id>.log
// The names are the ones kube-state-metrics exports (kube_pod_info's
// namespace and pod). Only directory entry names are read: the .log symlinks
// are never followed.

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tcpq::procfs {

struct PodName {
  std::string namespace_name;  // the Kubernetes namespace
  std::string pod;
  std::string uid;
  bool operator==(const PodName&) const = default;
};

struct ContainerLog {
  std::string pod;
  std::string namespace_name;
  std::string container;
  std::string container_id;  // 64 hex digits
  bool operator==(const ContainerLog&) const = default;
};

// "<namespace>_<pod>_<uid>", each part as Kubernetes allows it (a DNS label
// namespace, a DNS subdomain pod name, a UUID or a static pod's 32 hex
// digit UID); nullopt for anything else.
std::optional<PodName> ParsePodLogDir(absl::string_view name);

// "<pod>_<namespace>_<container>-<64 hex>.log"; nullopt for anything else.
std::optional<ContainerLog> ParseContainerLogName(absl::string_view name);

// The names found under one <varlog>, re-read only when a directory changed.
class KubeletLogs {
 public:
  explicit KubeletLogs(std::string varlog);

  struct Refreshed {
    // Entries that are not kubelet names, first seen by this refresh (each
    // is reported once in the exporter's life, up to a bound).
    std::vector<std::string> rejected;
    // A directory that exists but cannot be read; an absent one is not an
    // error (not a Kubernetes node).
    absl::Status error;
  };
  // Not concurrently with the lookups.
  Refreshed Refresh();

  // nullptr when unknown. Valid until the next Refresh.
  const PodName* Pod(absl::string_view uid) const;
  const ContainerLog* Container(absl::string_view container_id) const;

 private:
  // What identifies a directory's content: a change of any of these means
  // entries were added, removed or renamed.
  struct DirStamp {
    bool exists = false;
    ino_t inode = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const DirStamp& o) const;
  };
  // Lists `dir` if its stamp changed; calls `add` per entry name.
  template <typename Add>
  absl::Status Reread(const std::string& dir, DirStamp& stamp, bool& changed,
                      Add add);
  void Reject(absl::string_view name, Refreshed& refreshed);

  const std::string pods_dir_;
  const std::string containers_dir_;
  DirStamp pods_stamp_;
  DirStamp containers_stamp_;
  absl::flat_hash_map<std::string, PodName> pods_;             // by uid
  absl::flat_hash_map<std::string, ContainerLog> containers_;  // by id
  absl::flat_hash_set<std::string> reported_;
};

}  // namespace tcpq::procfs

#pragma once

// Workload identity labels, joined from what the node alone knows: a
// process's cgroup (pod UID, container ID, systemd unit) and the kubelet's
// log directory names (pod, Kubernetes namespace, container name). The one
// place these labels are named and joined, for every series and endpoint.

#include "exporter/metrics.h"
#include "procfs/cgroup.h"
#include "procfs/kubelet_logs.h"
#include "procfs/netns.h"
#include "procfs/socket_owner.h"

namespace tcpq {

// The info series that names each listener's owner.
inline constexpr char kListenerInfoMetric[] = "tcpq_listener_info";

// Appends container, container_id, pod and namespace of a process in a
// container, leaving out the ones it does not have.
void AppendContainerLabels(const procfs::CgroupIdentity& cgroup,
                           const procfs::KubeletLogs& kubelet, Labels& labels);

// Appends process, unit, then the container labels of a socket's owner.
void AppendOwnerLabels(const procfs::ProcessIdentity& owner,
                       const procfs::KubeletLogs& kubelet, Labels& labels);

// The Kubernetes namespace and pod of a pod UID ("" when not known), into
// `identity`.
void NamePod(const procfs::KubeletLogs& kubelet,
             procfs::NetnsIdentity& identity);

// Labels of tcpq_netns_info: netns, name, pod_uid, container_id, namespace,
// pod, empty ones left out.
Labels NetnsInfoLabels(const procfs::NetnsIdentity& identity);

}  // namespace tcpq

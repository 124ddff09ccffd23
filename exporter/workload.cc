#include "exporter/workload.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tcpq {
namespace {

void AppendIfSet(absl::string_view name, const std::string& value,
                 Labels& labels) {
  if (!value.empty()) labels.emplace_back(std::string(name), value);
}

}  // namespace

void AppendContainerLabels(const procfs::CgroupIdentity& cgroup,
                           const procfs::KubeletLogs& kubelet, Labels& labels) {
  const procfs::ContainerLog* container =
      kubelet.Container(cgroup.container_id);
  const procfs::PodName* pod = kubelet.Pod(cgroup.pod_uid);
  AppendIfSet("container", container ? container->container : "", labels);
  AppendIfSet("container_id", cgroup.container_id, labels);
  // The pod's names from its log directory, else from the container's log
  // file name (kubelet writes both; either may be cleaned up first).
  if (pod != nullptr) {
    AppendIfSet("pod", pod->pod, labels);
    AppendIfSet("namespace", pod->namespace_name, labels);
  } else if (container != nullptr) {
    AppendIfSet("pod", container->pod, labels);
    AppendIfSet("namespace", container->namespace_name, labels);
  }
}

void AppendOwnerLabels(const procfs::ProcessIdentity& owner,
                       const procfs::KubeletLogs& kubelet, Labels& labels) {
  AppendIfSet("process", owner.comm, labels);
  AppendIfSet("unit", owner.cgroup.unit, labels);
  AppendContainerLabels(owner.cgroup, kubelet, labels);
}

void NamePod(const procfs::KubeletLogs& kubelet,
             procfs::NetnsIdentity& identity) {
  const procfs::PodName* pod = kubelet.Pod(identity.pod_uid);
  identity.kube_namespace = pod ? pod->namespace_name : "";
  identity.pod = pod ? pod->pod : "";
}

Labels NetnsInfoLabels(const procfs::NetnsIdentity& identity) {
  Labels labels = {{"netns", absl::StrCat(identity.inode)}};
  AppendIfSet("name", identity.name, labels);
  AppendIfSet("pod_uid", identity.pod_uid, labels);
  AppendIfSet("container_id", identity.container_id, labels);
  AppendIfSet("namespace", identity.kube_namespace, labels);
  AppendIfSet("pod", identity.pod, labels);
  return labels;
}

}  // namespace tcpq

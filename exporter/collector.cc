#include "exporter/collector.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace tcpq {

std::string NetnsLabel(const procfs::Netns& ns) {
  return absl::StrCat(ns.identity.inode);
}

Labels ListenerLabels(const std::string& netns,
                      const procfs::ListenerKey& key) {
  return {
      {"netns", netns}, {"addr", key.addr}, {"port", absl::StrCat(key.port)}};
}

absl::StatusOr<std::vector<procfs::InetDiagSocket>> NamespaceVisit::DumpTcp(
    int family, uint32_t states, bool with_meminfo) {
  if (!kept_.sock_diag.has_value()) {
    absl::StatusOr<procfs::SockDiag> opened = procfs::SockDiag::Open();
    if (!opened.ok()) return opened.status();
    kept_.sock_diag.emplace(*std::move(opened));
  }
  absl::StatusOr<std::vector<procfs::InetDiagSocket>> dumped =
      kept_.sock_diag->DumpTcp(family, states, with_meminfo);
  if (!dumped.ok()) kept_.sock_diag.reset();
  return dumped;
}

const tcpq_netns_record* NamespaceVisit::Record() const {
  const std::optional<NetnsRecords>& records = node_.snapshot.records;
  if (!records.has_value()) return nullptr;
  const auto it = records->find(inode());
  return it == records->end() ? nullptr : &it->second;
}

const absl::StatusOr<procfs::Listeners>& NamespaceVisit::Listeners() {
  if (listeners_.has_value()) return *listeners_;
  if (const std::optional<ListenerSnapshot>& all = node_.snapshot.listeners;
      all.has_value() && all->covered.contains(inode())) {
    const auto it = all->listeners.find(inode());
    return listeners_.emplace(it == all->listeners.end() ? procfs::Listeners{}
                                                         : it->second);
  }
  absl::StatusOr<std::vector<procfs::InetDiagSocket>> sockets =
      DumpTcp(AF_UNSPEC, procfs::StateBit(procfs::kTcpListen),
              /*with_meminfo=*/true);
  if (!sockets.ok()) return listeners_.emplace(sockets.status());
  return listeners_.emplace(procfs::GroupListeners(*sockets));
}

}  // namespace tcpq

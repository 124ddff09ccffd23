#include "exporter/collectors/listener_metrics.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace tcpq {

absl::StatusOr<procfs::Listeners> DumpListeners(procfs::SockDiag& sock_diag) {
  std::vector<procfs::InetDiagSocket> sockets;
  for (int family : {AF_INET, AF_INET6}) {
    absl::StatusOr<std::vector<procfs::InetDiagSocket>> dumped =
        sock_diag.DumpTcp(family, procfs::StateBit(procfs::kTcpListen),
                          /*with_meminfo=*/true);
    if (!dumped.ok()) return dumped.status();
    sockets.insert(sockets.end(), dumped->begin(), dumped->end());
  }
  return procfs::GroupListeners(sockets);
}

Labels ListenerLabels(const std::string& netns,
                      const procfs::ListenerKey& key) {
  return {
      {"netns", netns}, {"addr", key.addr}, {"port", absl::StrCat(key.port)}};
}

}  // namespace tcpq

#include "exporter/collectors/listener_metrics.h"

#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "procfs/inet_diag.h"

namespace tcpq {

absl::StatusOr<procfs::Listeners> DumpListeners() {
  std::vector<procfs::InetDiagSocket> sockets;
  for (int family : {AF_INET, AF_INET6}) {
    absl::StatusOr<std::vector<procfs::InetDiagSocket>> dumped =
        procfs::DumpTcpSockets(family, procfs::StateBit(procfs::kTcpListen),
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

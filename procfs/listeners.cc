#include "procfs/listeners.h"

#include <sys/socket.h>

namespace tcpq::procfs {

const char* WildcardAddress(int family) {
  return family == AF_INET ? "0.0.0.0" : "::";
}

Listeners GroupListeners(const std::vector<InetDiagSocket>& listen_sockets) {
  Listeners listeners;
  for (const InetDiagSocket& s : listen_sockets) {
    ListenerTotals& totals = listeners[{s.local_addr, s.local_port}];
    ++totals.sockets;
    totals.accept_queue_length += s.rqueue;
    totals.accept_queue_limit += s.wqueue;
    if (s.drops) {
      totals.drops += *s.drops;
      totals.has_drops = true;
    }
    totals.inodes.push_back(s.inode);
  }
  return listeners;
}

SynQueueLengths CountSynQueue(
    const std::vector<InetDiagSocket>& syn_recv_sockets,
    const Listeners& listeners) {
  SynQueueLengths lengths;
  for (const InetDiagSocket& s : syn_recv_sockets) {
    const auto it = FindListener(listeners, {s.local_addr, s.local_port},
                                 {WildcardAddress(s.family), s.local_port});
    if (it != listeners.end()) ++lengths[it->first];
  }
  return lengths;
}

}  // namespace tcpq::procfs

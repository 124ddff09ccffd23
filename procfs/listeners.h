#pragma once

// Folds inet_diag sockets into one entry per listening address: SO_REUSEPORT
// groups are several sockets on the same addr:port and count as one listener.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "procfs/inet_diag.h"

namespace tcpq::procfs {

struct ListenerKey {
  std::string addr;
  uint16_t port = 0;
  auto operator<=>(const ListenerKey&) const = default;
};

struct ListenerTotals {
  uint32_t sockets = 0;
  uint64_t accept_queue_length = 0;  // sum of Recv-Q
  uint64_t accept_queue_limit =
      0;  // sum of Send-Q: each socket has its own queue
  uint64_t drops = 0;
  bool has_drops = false;        // the kernel sent SK_MEMINFO_DROPS
  std::vector<uint64_t> inodes;  // of the group's sockets
  auto operator<=>(const ListenerTotals&) const = default;
};

using Listeners = std::map<ListenerKey, ListenerTotals>;

// Groups LISTEN sockets by address and port.
Listeners GroupListeners(const std::vector<InetDiagSocket>& listen_sockets);

// The rule that ties a connection to its listener, for any key type: the
// listener on the connection's exact local address and port, else the
// wildcard listener of its address family (0.0.0.0 or ::) on that port. (A
// dual-stack "::" listener receives IPv4 peers as v4-mapped IPv6 sockets,
// whose family is AF_INET6.) `wildcard` is `exact` with its family's
// wildcard address. end() when neither listens.
template <typename Map>
auto FindListener(Map& listeners, const typename Map::key_type& exact,
                  const typename Map::key_type& wildcard) {
  const auto it = listeners.find(exact);
  return it != listeners.end() ? it : listeners.find(wildcard);
}

// The wildcard address of a family as `ss` prints it: "0.0.0.0" or "::".
const char* WildcardAddress(int family);

// Half-open connections per listener.
using SynQueueLengths = std::map<ListenerKey, uint64_t>;

// Counts each SYN_RECV request socket against the listener it belongs to
// (FindListener). Request sockets with no listener are ignored.
SynQueueLengths CountSynQueue(
    const std::vector<InetDiagSocket>& syn_recv_sockets,
    const Listeners& listeners);

}  // namespace tcpq::procfs

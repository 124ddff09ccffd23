#ifndef TCPQ_TESTS_WALK_SOCKET_BUILDER_H_
#define TCPQ_TESTS_WALK_SOCKET_BUILDER_H_

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "bpf/tcpq.h"

namespace tcpq::test_support {

// A socket as the walk programs describe it (tcpq_walk_socket); the family
// follows `local` (IPv6 if it has a colon), the client port is 40000.
inline tcpq_walk_socket WalkSocket(uint8_t state, const char* local,
                                   uint16_t local_port, const char* remote,
                                   uint64_t cookie, uint64_t since_ns,
                                   uint32_t netns, uint8_t flags = 0) {
  tcpq_walk_socket s{};
  s.family = std::strchr(local, ':') != nullptr ? AF_INET6 : AF_INET;
  inet_pton(s.family, local, s.local_addr);
  inet_pton(s.family, remote, s.remote_addr);
  s.local_port = local_port;
  s.remote_port = 40000;
  s.state = state;
  s.cookie = cookie;
  s.since_ns = since_ns;
  s.flags = flags;
  s.netns = netns;
  return s;
}

}  // namespace tcpq::test_support

#endif  // TCPQ_TESTS_WALK_SOCKET_BUILDER_H_

#pragma once

// sock_diag (NETLINK_SOCK_DIAG / inet_diag) for TCP sockets: a pure request
// builder and reply parser over bytes, plus the socket that runs dumps in the
// network namespace it was opened in.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

// One socket from an inet_diag dump, in the units the kernel reports.
struct InetDiagSocket {
  int family = 0;     // AF_INET or AF_INET6
  uint8_t state = 0;  // kernel TCP state (TCP_LISTEN = 10, TCP_SYN_RECV = 3)
  std::string
      local_addr;  // as `ss` prints it: inet_ntop, e.g. "0.0.0.0", "::",
                   // "::ffff:127.0.0.1"
  uint16_t local_port = 0;  // host byte order
  uint32_t rqueue = 0;      // idiag_rqueue: accept queue length for LISTEN
  uint32_t wqueue = 0;      // idiag_wqueue: accept queue limit for LISTEN
  std::optional<uint32_t>
      drops;  // SK_MEMINFO_DROPS when INET_DIAG_SKMEMINFO came
  uint32_t inode = 0;

  bool operator==(const InetDiagSocket&) const = default;
};

// An address as `ss` prints it (inet_ntop: "127.0.0.1", "::1",
// "::ffff:10.0.0.1"): `addr` holds 4 bytes for AF_INET, 16 for AF_INET6, in
// network byte order. "" for another family.
std::string FormatAddress(int family, const void* addr);

// Bit for `states` masks: 1 << TCP state number.
constexpr uint32_t StateBit(int tcp_state) { return 1u << tcp_state; }
inline constexpr int kTcpSynRecv = 3;
inline constexpr int kTcpListen = 10;

// Bytes of one dump request for IPPROTO_TCP sockets of `family` in the
// states of `states`: SOCK_DIAG_BY_FAMILY with inet_diag_req_v2 for AF_INET
// or AF_INET6; for AF_UNSPEC, both families in one walk of the kernel's
// tables (TCPDIAG_GETSOCK with inet_diag_req): the walk of the listening
// hash, shared by every namespace, is most of a LISTEN dump's cost. With
// `with_meminfo` it asks for INET_DIAG_SKMEMINFO (which carries the drops).
std::vector<uint8_t> BuildInetDiagDumpRequest(int family, uint32_t states,
                                              bool with_meminfo, uint32_t seq);

// Parses the bytes of one recv() of a dump reply: appends every socket
// message (SOCK_DIAG_BY_FAMILY or TCPDIAG_GETSOCK) to `out`. Returns true when
// the buffer ended the dump with NLMSG_DONE, false when more datagrams follow.
// A truncated or malformed message, an NLMSG_ERROR or a DONE carrying an error
// is an error status naming the problem; `out` keeps what was parsed before it.
absl::StatusOr<bool> ParseInetDiagReply(std::span<const uint8_t> bytes,
                                        std::vector<InetDiagSocket>& out);

// A NETLINK_SOCK_DIAG socket. It belongs to the network namespace of the
// thread that opened it, for its whole life, and serves any number of dumps
// one after the other: a scrape opens one per namespace.
class SockDiag {
 public:
  static absl::StatusOr<SockDiag> Open();

  // Runs a complete dump of the IPPROTO_TCP sockets of `family` in `states`.
  absl::StatusOr<std::vector<InetDiagSocket>> DumpTcp(int family,
                                                      uint32_t states,
                                                      bool with_meminfo);

 private:
  SockDiag(UniqueFd fd, uint32_t port_id)
      : fd_(std::move(fd)), port_id_(port_id) {}

  UniqueFd fd_;
  uint32_t port_id_;  // the kernel addresses replies to it
};

}  // namespace tcpq::procfs

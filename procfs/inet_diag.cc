#include "procfs/inet_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>  // rtattr, which inet_diag attributes use
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {
namespace {

// A netlink dump datagram is at most ~32 KiB on current kernels; twice that
// leaves room for growth, and MSG_TRUNC still catches anything larger.
constexpr size_t kRecvBufferSize = 64 * 1024;

// A dump of LISTEN sockets answers in microseconds; the timeout only keeps a
// scrape from hanging forever should the kernel never answer.
constexpr time_t kRecvTimeoutSeconds = 10;

// Identity every reply message must carry. Empty for the pure parser, which
// has no socket to compare against.
struct Expected {
  std::optional<uint32_t> seq;
  std::optional<uint32_t> pid;
};

// Reads a trivially copyable T at `offset`; the caller has checked the bounds.
// memcpy because netlink buffers need not be aligned for T.
template <typename T>
T Load(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Parses the attributes of the SOCK_DIAG_BY_FAMILY message whose attributes
// span [begin, end) of `bytes` (already bounded by nlmsg_len).
absl::Status ParseAttributes(std::span<const uint8_t> bytes, size_t begin,
                             size_t end, InetDiagSocket& socket) {
  size_t offset = begin;
  while (offset < end) {
    const size_t remaining = end - offset;
    if (remaining < sizeof(rtattr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inet_diag reply: ", remaining, " trailing bytes at offset ", offset,
          " are too short for an attribute header"));
    }
    const auto attr = Load<rtattr>(bytes, offset);
    if (attr.rta_len < sizeof(rtattr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("inet_diag reply: attribute type ", attr.rta_type,
                       " at offset ", offset, " has rta_len ", attr.rta_len,
                       ", shorter than its ", sizeof(rtattr), "-byte header"));
    }
    if (attr.rta_len > remaining) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inet_diag reply: attribute type ", attr.rta_type, " at offset ",
          offset, " has rta_len ", attr.rta_len, " but only ", remaining,
          " bytes remain in its message"));
    }
    if (attr.rta_type == INET_DIAG_SKMEMINFO) {
      const size_t payload = offset + RTA_LENGTH(0);
      const size_t count = (attr.rta_len - RTA_LENGTH(0)) / sizeof(uint32_t);
      // Older or newer kernels may send fewer or more counters; drops is only
      // known when the array reaches its index.
      if (count > SK_MEMINFO_DROPS) {
        socket.drops = Load<uint32_t>(
            bytes, payload + SK_MEMINFO_DROPS * sizeof(uint32_t));
      } else {
        socket.drops = std::nullopt;
      }
    }
    // The last attribute's padding may be missing; never step past `end`.
    offset += std::min<size_t>(RTA_ALIGN(attr.rta_len), remaining);
  }
  return absl::OkStatus();
}

// Parses one SOCK_DIAG_BY_FAMILY message of nlmsg_len `len` at `offset`.
absl::StatusOr<InetDiagSocket> ParseSocket(std::span<const uint8_t> bytes,
                                           size_t offset, size_t len) {
  const size_t payload = offset + NLMSG_HDRLEN;
  const size_t payload_len = len - NLMSG_HDRLEN;
  if (payload_len < sizeof(inet_diag_msg)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inet_diag reply: SOCK_DIAG_BY_FAMILY message at offset ", offset,
        " has a ", payload_len, "-byte payload, shorter than inet_diag_msg (",
        sizeof(inet_diag_msg), " bytes)"));
  }
  const auto msg = Load<inet_diag_msg>(bytes, payload);

  InetDiagSocket socket;
  socket.family = msg.idiag_family;
  socket.state = msg.idiag_state;
  socket.local_port = ntohs(msg.id.idiag_sport);
  socket.rqueue = msg.idiag_rqueue;
  socket.wqueue = msg.idiag_wqueue;
  socket.inode = msg.idiag_inode;

  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inet_diag reply: message at offset ", offset, " has address family ",
        msg.idiag_family, ", neither AF_INET nor AF_INET6"));
  }
  // idiag_src holds 16 bytes; AF_INET uses the first 4.
  socket.local_addr = FormatAddress(msg.idiag_family, msg.id.idiag_src);

  if (absl::Status status =
          ParseAttributes(bytes, payload + NLMSG_ALIGN(sizeof(inet_diag_msg)),
                          offset + len, socket);
      !status.ok()) {
    return status;
  }
  return socket;
}

absl::StatusOr<bool> ParseReply(std::span<const uint8_t> bytes,
                                std::vector<InetDiagSocket>& out,
                                const Expected& expected) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    const size_t remaining = bytes.size() - offset;
    if (remaining < sizeof(nlmsghdr)) {
      return absl::DataLossError(absl::StrCat(
          "inet_diag reply truncated: ", remaining, " bytes at offset ", offset,
          " are too short for a ", sizeof(nlmsghdr), "-byte nlmsghdr"));
    }
    const auto header = Load<nlmsghdr>(bytes, offset);
    if (header.nlmsg_len < sizeof(nlmsghdr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inet_diag reply: nlmsg_len ", header.nlmsg_len, " at offset ",
          offset, " is shorter than the ", sizeof(nlmsghdr), "-byte nlmsghdr"));
    }
    if (header.nlmsg_len > remaining) {
      return absl::DataLossError(
          absl::StrCat("inet_diag reply truncated: message at offset ", offset,
                       " has nlmsg_len ", header.nlmsg_len, " but only ",
                       remaining, " bytes remain"));
    }
    if (expected.seq.has_value() && header.nlmsg_seq != *expected.seq) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inet_diag reply: message at offset ", offset, " has nlmsg_seq ",
          header.nlmsg_seq, ", expected ", *expected.seq));
    }
    if (expected.pid.has_value() && header.nlmsg_pid != *expected.pid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "inet_diag reply: message at offset ", offset, " has nlmsg_pid ",
          header.nlmsg_pid, ", expected ", *expected.pid));
    }
    const size_t len = header.nlmsg_len;
    const size_t payload_len = len - NLMSG_HDRLEN;
    const size_t next = offset + std::min<size_t>(NLMSG_ALIGN(len), remaining);

    switch (header.nlmsg_type) {
      case SOCK_DIAG_BY_FAMILY:  // an inet_diag_req_v2 dump's answers
      case TCPDIAG_GETSOCK: {    // a both-families dump's (same layout)
        absl::StatusOr<InetDiagSocket> socket = ParseSocket(bytes, offset, len);
        if (!socket.ok()) return socket.status();
        out.push_back(*std::move(socket));
        break;
      }
      case NLMSG_DONE: {
        // inet_diag's DONE carries the dump's final return value as an int.
        if (payload_len >= sizeof(int)) {
          const int error = Load<int>(bytes, offset + NLMSG_HDRLEN);
          if (error < 0) {
            const int errnum = error == INT_MIN ? EINVAL : -error;
            return absl::ErrnoToStatus(
                errnum, absl::StrCat("inet_diag dump ended with error ", error,
                                     " (NLMSG_DONE at offset ", offset, ")"));
          }
        }
        if (next != bytes.size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "inet_diag reply: ", bytes.size() - next,
              " unexpected bytes after NLMSG_DONE at offset ", offset));
        }
        return true;
      }
      case NLMSG_ERROR: {
        if (payload_len < sizeof(int)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "inet_diag reply: NLMSG_ERROR at offset ", offset, " has a ",
              payload_len, "-byte payload, too short for the error code"));
        }
        const int error = Load<int>(bytes, offset + NLMSG_HDRLEN);
        if (error >= 0 || error == INT_MIN) {
          // 0 would be an ACK, which a dump without NLM_F_ACK never gets.
          return absl::InvalidArgumentError(
              absl::StrCat("inet_diag reply: NLMSG_ERROR at offset ", offset,
                           " carries unexpected error code ", error));
        }
        return absl::ErrnoToStatus(
            -error, absl::StrCat("inet_diag dump failed (NLMSG_ERROR ", error,
                                 " at offset ", offset, ")"));
      }
      case NLMSG_NOOP:
        break;
      case NLMSG_OVERRUN:
        return absl::DataLossError(
            absl::StrCat("inet_diag reply: NLMSG_OVERRUN at offset ", offset));
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("inet_diag reply: unexpected message type ",
                         header.nlmsg_type, " at offset ", offset));
    }
    offset = next;
  }
  return false;
}

}  // namespace

std::string FormatAddress(int family, const void* addr) {
  if (family != AF_INET && family != AF_INET6) return "";
  char text[INET6_ADDRSTRLEN] = {};
  // Cannot fail: a known family and a buffer large enough for it.
  inet_ntop(family, addr, text, sizeof(text));
  return text;
}

std::vector<uint8_t> BuildInetDiagDumpRequest(int family, uint32_t states,
                                              bool with_meminfo, uint32_t seq) {
  const uint8_t ext =
      with_meminfo ? static_cast<uint8_t>(1u << (INET_DIAG_SKMEMINFO - 1)) : 0;
  nlmsghdr header{};
  header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  header.nlmsg_seq = seq;
  header.nlmsg_pid = 0;  // The kernel fills in the sender's port id.
  std::vector<uint8_t> bytes;
  if (family == AF_UNSPEC) {
    // The first inet_diag request (TCPDIAG_GETSOCK, struct inet_diag_req):
    // the kernel runs it with family AF_UNSPEC, one walk of the tables for
    // both families, where inet_diag_req_v2 takes one family per walk.
    header.nlmsg_len = NLMSG_LENGTH(sizeof(inet_diag_req));
    header.nlmsg_type = TCPDIAG_GETSOCK;
    inet_diag_req request{};
    request.idiag_family = AF_INET;  // not used by a dump
    request.idiag_ext = ext;
    request.idiag_states = states;
    bytes.resize(header.nlmsg_len);
    std::memcpy(bytes.data() + NLMSG_HDRLEN, &request, sizeof(request));
  } else {
    header.nlmsg_len = NLMSG_LENGTH(sizeof(inet_diag_req_v2));
    header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    inet_diag_req_v2 request{};
    request.sdiag_family = static_cast<uint8_t>(family);
    request.sdiag_protocol = IPPROTO_TCP;
    request.idiag_ext = ext;
    request.idiag_states = states;
    bytes.resize(header.nlmsg_len);
    std::memcpy(bytes.data() + NLMSG_HDRLEN, &request, sizeof(request));
  }
  std::memcpy(bytes.data(), &header, sizeof(header));
  return bytes;
}

absl::StatusOr<bool> ParseInetDiagReply(std::span<const uint8_t> bytes,
                                        std::vector<InetDiagSocket>& out) {
  return ParseReply(bytes, out, Expected{});
}

absl::StatusOr<SockDiag> SockDiag::Open() {
  UniqueFd fd(
      ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd.valid()) {
    return absl::ErrnoToStatus(errno,
                               "socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed");
  }
  const timeval timeout{.tv_sec = kRecvTimeoutSeconds, .tv_usec = 0};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                   sizeof(timeout)) < 0) {
    return absl::ErrnoToStatus(errno, "setsockopt(SO_RCVTIMEO) on sock_diag");
  }
  // Port id 0: the kernel picks a free one; replies are addressed to it.
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local),
             sizeof(local)) < 0) {
    return absl::ErrnoToStatus(errno, "bind(sock_diag) failed");
  }
  socklen_t local_len = sizeof(local);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &local_len) <
      0) {
    return absl::ErrnoToStatus(errno, "getsockname(sock_diag) failed");
  }
  return SockDiag(std::move(fd), local.nl_pid);
}

absl::StatusOr<std::vector<InetDiagSocket>> SockDiag::DumpTcp(
    int family, uint32_t states, bool with_meminfo) {
  // Distinct per dump so a stray reply to an earlier request cannot match.
  static std::atomic<uint32_t> next_seq{1};
  const uint32_t seq = next_seq.fetch_add(1, std::memory_order_relaxed);
  const std::vector<uint8_t> request =
      BuildInetDiagDumpRequest(family, states, with_meminfo, seq);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // nl_pid 0: the kernel.
  ssize_t sent;
  do {
    sent = ::sendto(fd_.get(), request.data(), request.size(), 0,
                    reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    return absl::ErrnoToStatus(errno, "sendto(sock_diag dump request) failed");
  }
  if (static_cast<size_t>(sent) != request.size()) {
    return absl::InternalError(absl::StrCat("sendto(sock_diag) sent ", sent,
                                            " of ", request.size(), " bytes"));
  }

  const Expected expected{.seq = seq, .pid = port_id_};

  std::vector<uint8_t> buffer(kRecvBufferSize);
  std::vector<InetDiagSocket> sockets;
  while (true) {
    sockaddr_nl source{};
    iovec iov{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr msg{};
    msg.msg_name = &source;
    msg.msg_namelen = sizeof(source);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t received = ::recvmsg(fd_.get(), &msg, 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError(absl::StrCat(
            "sock_diag dump: no reply within ", kRecvTimeoutSeconds, " s"));
      }
      return absl::ErrnoToStatus(errno, "recvmsg(sock_diag) failed");
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) {
      return absl::DataLossError(
          absl::StrCat("sock_diag dump: datagram larger than the ",
                       buffer.size(), "-byte receive buffer was truncated"));
    }
    if (source.nl_pid != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sock_diag dump: datagram from port id ", source.nl_pid,
                       ", not from the kernel"));
    }
    if (received == 0) {
      return absl::DataLossError("sock_diag dump: empty datagram");
    }
    absl::StatusOr<bool> done = ParseReply(
        std::span<const uint8_t>(buffer.data(), static_cast<size_t>(received)),
        sockets, expected);
    if (!done.ok()) return done.status();
    if (*done) return sockets;
  }
}

}  // namespace tcpq::procfs

#include "procfs/inet_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

// Readable failure messages instead of gtest's byte dump. In tcpq::procfs so
// ADL finds it; static so it cannot clash with another test file's PrintTo.
static void PrintTo(const InetDiagSocket& s, std::ostream* os) {
  *os << absl::StrCat(
      "{family=", s.family, " state=", s.state, " ", s.local_addr, ":",
      s.local_port, " rqueue=", s.rqueue, " wqueue=", s.wqueue,
      " drops=", s.drops.has_value() ? absl::StrCat(*s.drops) : "none",
      " inode=", s.inode, "}");
}

namespace {

// The fixtures are raw recv() datagrams recorded from kernel 6.18 by
// tests/fixtures/record_inet_diag.cc in a fresh network namespace; the values
// below are what `ss -tlnm` printed for the same listeners.
std::vector<uint8_t> ReadFixture(const std::string& name) {
  const std::string path = std::string(TCPQ_FIXTURES_DIR) + "/" + name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> Concat(std::vector<uint8_t> a,
                            const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

template <typename T>
void Append(std::vector<uint8_t>& bytes, const T& value) {
  // Not vector::insert of the value's bytes: gcc 12 at -O3 reports that as a
  // -Wstringop-overflow into the fresh allocation (a false positive).
  const size_t offset = bytes.size();
  bytes.resize(offset + sizeof(T));
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <typename T>
T LoadAt(const std::vector<uint8_t>& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

InetDiagSocket Socket(int family, const std::string& addr, uint16_t port,
                      uint32_t rqueue, uint32_t wqueue,
                      std::optional<uint32_t> drops, uint32_t inode) {
  InetDiagSocket s;
  s.family = family;
  s.state = kTcpListen;
  s.local_addr = addr;
  s.local_port = port;
  s.rqueue = rqueue;
  s.wqueue = wqueue;
  s.drops = drops;
  s.inode = inode;
  return s;
}

// Expected contents of the fixtures.
const InetDiagSocket kV4Any = Socket(AF_INET, "0.0.0.0", 8002, 0, 128, 0, 9304);
// backlog 2 hit by 20 connects: Recv-Q 3 > Send-Q 2, 17 drops (`d17` in ss).
const InetDiagSocket kV4Loopback =
    Socket(AF_INET, "127.0.0.1", 8001, 3, 2, 17, 9303);
// Dual-stack [::] (ss prints it as `*:8004`) with two queued IPv4 clients.
const InetDiagSocket kV6Any = Socket(AF_INET6, "::", 8004, 2, 64, 0, 9306);
const InetDiagSocket kV6Loopback =
    Socket(AF_INET6, "::1", 8003, 1, 16, 0, 9305);
const InetDiagSocket kV6Mapped =
    Socket(AF_INET6, "::ffff:127.0.0.1", 8005, 0, 32, 0, 9307);

// Offset of the first message's attributes in a fixture.
constexpr size_t kFirstAttr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_msg));

// One SOCK_DIAG_BY_FAMILY message: a LISTEN socket on 10.1.2.3:443 followed
// by `attrs` (already encoded).
std::vector<uint8_t> SocketMessage(const std::vector<uint8_t>& attrs,
                                   uint8_t family = AF_INET,
                                   uint16_t type = SOCK_DIAG_BY_FAMILY) {
  inet_diag_msg msg{};
  msg.idiag_family = family;
  msg.idiag_state = kTcpListen;
  msg.id.idiag_sport = htons(443);
  inet_pton(AF_INET, "10.1.2.3", &msg.id.idiag_src[0]);
  msg.idiag_rqueue = 5;
  msg.idiag_wqueue = 511;
  msg.idiag_inode = 4242;
  nlmsghdr header{};
  header.nlmsg_len = NLMSG_HDRLEN + sizeof(msg) + attrs.size();
  header.nlmsg_type = type;
  header.nlmsg_flags = NLM_F_MULTI;
  header.nlmsg_seq = 1;
  std::vector<uint8_t> bytes;
  Append(bytes, header);
  Append(bytes, msg);
  bytes.insert(bytes.end(), attrs.begin(), attrs.end());
  return bytes;
}

// An INET_DIAG_SKMEMINFO attribute holding counters 0, 1, 2, ... `count`-1.
std::vector<uint8_t> MeminfoAttr(int count) {
  rtattr attr{};
  attr.rta_type = INET_DIAG_SKMEMINFO;
  attr.rta_len = RTA_LENGTH(count * sizeof(uint32_t));
  std::vector<uint8_t> bytes;
  Append(bytes, attr);
  for (uint32_t i = 0; i < static_cast<uint32_t>(count); ++i) Append(bytes, i);
  return bytes;
}

std::vector<uint8_t> ControlMessage(uint16_t type, int value) {
  nlmsghdr header{};
  header.nlmsg_len = NLMSG_LENGTH(sizeof(int));
  header.nlmsg_type = type;
  header.nlmsg_flags = NLM_F_MULTI;
  header.nlmsg_seq = 1;
  std::vector<uint8_t> bytes;
  Append(bytes, header);
  Append(bytes, value);
  return bytes;
}

std::vector<uint8_t> ErrorMessage(int error) {
  nlmsghdr header{};
  header.nlmsg_len = NLMSG_LENGTH(sizeof(nlmsgerr));
  header.nlmsg_type = NLMSG_ERROR;
  header.nlmsg_seq = 1;
  nlmsgerr err{};
  err.error = error;
  // The kernel echoes the request's header.
  err.msg.nlmsg_len = NLMSG_LENGTH(sizeof(inet_diag_req_v2));
  err.msg.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  err.msg.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  err.msg.nlmsg_seq = 1;
  std::vector<uint8_t> bytes;
  Append(bytes, header);
  Append(bytes, err);
  return bytes;
}

TEST(BuildInetDiagDumpRequestTest, ListenWithMeminfo) {
  const std::vector<uint8_t> bytes = BuildInetDiagDumpRequest(
      AF_INET6, StateBit(kTcpListen), /*with_meminfo=*/true, /*seq=*/77);
  ASSERT_EQ(bytes.size(), 16u + 56u);

  const auto header = LoadAt<nlmsghdr>(bytes, 0);
  EXPECT_EQ(header.nlmsg_len, 72u);
  EXPECT_EQ(header.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(header.nlmsg_type, 20);
  EXPECT_EQ(header.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  EXPECT_EQ(header.nlmsg_flags, 0x301);
  EXPECT_EQ(header.nlmsg_seq, 77u);
  EXPECT_EQ(header.nlmsg_pid, 0u);

  const auto req = LoadAt<inet_diag_req_v2>(bytes, 16);
  EXPECT_EQ(req.sdiag_family, AF_INET6);
  EXPECT_EQ(req.sdiag_protocol, IPPROTO_TCP);
  EXPECT_EQ(req.idiag_ext, 1 << (INET_DIAG_SKMEMINFO - 1));
  EXPECT_EQ(req.idiag_ext, 0x40);
  EXPECT_EQ(req.pad, 0);
  EXPECT_EQ(req.idiag_states, 1u << 10);
  // No socket id: a dump of every matching socket.
  for (size_t i = 16 + 8; i < bytes.size(); ++i) {
    EXPECT_EQ(bytes[i], 0) << "byte " << i;
  }
}

TEST(BuildInetDiagDumpRequestTest, SynRecvWithoutMeminfo) {
  const std::vector<uint8_t> bytes = BuildInetDiagDumpRequest(
      AF_INET, StateBit(kTcpSynRecv), /*with_meminfo=*/false, /*seq=*/1);
  ASSERT_EQ(bytes.size(), 72u);
  const auto req = LoadAt<inet_diag_req_v2>(bytes, 16);
  EXPECT_EQ(req.sdiag_family, AF_INET);
  EXPECT_EQ(req.idiag_ext, 0);
  EXPECT_EQ(req.idiag_states, 1u << 3);
}

TEST(BuildInetDiagDumpRequestTest, BothFamiliesInOneDump) {
  const std::vector<uint8_t> bytes = BuildInetDiagDumpRequest(
      AF_UNSPEC, StateBit(kTcpListen), /*with_meminfo=*/true, /*seq=*/9);
  ASSERT_EQ(bytes.size(), 16u + 60u);  // inet_diag_req has idiag_dbs
  const auto header = LoadAt<nlmsghdr>(bytes, 0);
  EXPECT_EQ(header.nlmsg_len, 76u);
  EXPECT_EQ(header.nlmsg_type, TCPDIAG_GETSOCK);
  EXPECT_EQ(header.nlmsg_type, 18);
  EXPECT_EQ(header.nlmsg_flags, 0x301);
  EXPECT_EQ(header.nlmsg_seq, 9u);
  const auto req = LoadAt<inet_diag_req>(bytes, 16);
  EXPECT_EQ(req.idiag_ext, 0x40);
  EXPECT_EQ(req.idiag_states, 1u << 10);
  EXPECT_EQ(req.idiag_dbs, 0u);
}

TEST(ParseInetDiagReplyTest, RecordedIpv4Listeners) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(ReadFixture("inet_diag_listen_v4.bin"), out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(*done);  // The kernel sends DONE in the next datagram.
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV4Any, kV4Loopback}));

  done = ParseInetDiagReply(ReadFixture("inet_diag_listen_v4_done.bin"), out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(*done);
  EXPECT_EQ(out.size(), 2u);
}

TEST(ParseInetDiagReplyTest, RecordedIpv6Listeners) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(ReadFixture("inet_diag_listen_v6.bin"), out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(*done);
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV6Any, kV6Loopback, kV6Mapped}));

  done = ParseInetDiagReply(ReadFixture("inet_diag_listen_v6_done.bin"), out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(*done);
}

TEST(ParseInetDiagReplyTest, RecordedWithoutMeminfoHasNoDrops) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(ReadFixture("inet_diag_listen_v4_nomem.bin"), out);
  ASSERT_TRUE(done.ok()) << done.status();
  InetDiagSocket any = kV4Any;
  InetDiagSocket loopback = kV4Loopback;
  any.drops = std::nullopt;
  loopback.drops = std::nullopt;
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{any, loopback}));
}

TEST(ParseInetDiagReplyTest, WholeDumpInOneBufferEndsWithDone) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(Concat(ReadFixture("inet_diag_listen_v4.bin"),
                                ReadFixture("inet_diag_listen_v4_done.bin")),
                         out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(*done);
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV4Any, kV4Loopback}));
}

TEST(ParseInetDiagReplyTest, MultiPartWithoutDoneWantsMore) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(Concat(ReadFixture("inet_diag_listen_v4.bin"),
                                ReadFixture("inet_diag_listen_v6.bin")),
                         out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(*done);
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV4Any, kV4Loopback, kV6Any,
                                              kV6Loopback, kV6Mapped}));
}

TEST(ParseInetDiagReplyTest, EmptyBufferWantsMore) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply({}, out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_FALSE(*done);
  EXPECT_TRUE(out.empty());
}

TEST(ParseInetDiagReplyTest, UnalignedBuffer) {
  // Datagrams land at any address in a caller's buffer; UBSan checks that no
  // struct is read through a misaligned pointer.
  const std::vector<uint8_t> fixture = ReadFixture("inet_diag_listen_v6.bin");
  std::vector<uint8_t> shifted(fixture.size() + 1);
  std::memcpy(shifted.data() + 1, fixture.data(), fixture.size());
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(
      std::span<const uint8_t>(shifted.data() + 1, fixture.size()), out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV6Any, kV6Loopback, kV6Mapped}));
}

TEST(ParseInetDiagReplyTest, TruncatedMidMessageKeepsEarlierSockets) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  const uint32_t first_len = LoadAt<uint32_t>(bytes, 0);
  ASSERT_EQ(first_len, 164u);
  bytes.resize(first_len + 50);
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(done.status().message(), "offset 164"))
      << done.status();
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV4Any}));
}

TEST(ParseInetDiagReplyTest, TruncatedInsideHeader) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  bytes.resize(164 + 10);
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(done.status().message(), "offset 164"))
      << done.status();
  EXPECT_EQ(out.size(), 1u);
}

TEST(ParseInetDiagReplyTest, EveryPrefixIsCompleteOrAnError) {
  const std::vector<uint8_t> bytes =
      Concat(ReadFixture("inet_diag_listen_v6.bin"),
             ReadFixture("inet_diag_listen_v6_done.bin"));
  // Message boundaries of the recording: three sockets, then DONE.
  const std::vector<size_t> boundaries = {0, 172, 344, 516};
  for (size_t n = 0; n <= bytes.size(); ++n) {
    std::vector<InetDiagSocket> out;
    absl::StatusOr<bool> done =
        ParseInetDiagReply(std::span(bytes).first(n), out);
    if (n == bytes.size()) {
      ASSERT_TRUE(done.ok()) << done.status();
      EXPECT_TRUE(*done);
    } else if (std::find(boundaries.begin(), boundaries.end(), n) !=
               boundaries.end()) {
      ASSERT_TRUE(done.ok()) << "prefix " << n << ": " << done.status();
      EXPECT_FALSE(*done);
    } else {
      EXPECT_FALSE(done.ok()) << "prefix " << n;
    }
  }
}

TEST(ParseInetDiagReplyTest, NlmsgErrorCarriesErrnoText) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(ErrorMessage(-EPERM), out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(done.status().message(), std::strerror(EPERM)))
      << done.status();
  EXPECT_TRUE(absl::StrContains(done.status().message(), "NLMSG_ERROR"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, NlmsgErrorAfterSocketsKeepsThem) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(
      Concat(ReadFixture("inet_diag_listen_v4.bin"), ErrorMessage(-ENOENT)),
      out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), std::strerror(ENOENT)))
      << done.status();
  EXPECT_TRUE(absl::StrContains(done.status().message(), "offset 328"))
      << done.status();
  EXPECT_EQ(out, (std::vector<InetDiagSocket>{kV4Any, kV4Loopback}));
}

TEST(ParseInetDiagReplyTest, NlmsgErrorWithoutErrorCodeIsAnError) {
  std::vector<uint8_t> bytes = ErrorMessage(-EPERM);
  bytes.resize(NLMSG_HDRLEN + 2);
  nlmsghdr header = LoadAt<nlmsghdr>(bytes, 0);
  header.nlmsg_len = bytes.size();
  std::memcpy(bytes.data(), &header, sizeof(header));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseInetDiagReplyTest, AckIsUnexpectedInADump) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(ErrorMessage(0), out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(
      absl::StrContains(done.status().message(), "unexpected error code 0"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, DoneWithErrorIsAnError) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(ControlMessage(NLMSG_DONE, -ENOBUFS), out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(
      absl::StrContains(done.status().message(), std::strerror(ENOBUFS)))
      << done.status();
  EXPECT_TRUE(absl::StrContains(done.status().message(), "NLMSG_DONE"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, DoneWithoutPayloadEndsTheDump) {
  nlmsghdr header{};
  header.nlmsg_len = NLMSG_HDRLEN;
  header.nlmsg_type = NLMSG_DONE;
  std::vector<uint8_t> bytes;
  Append(bytes, header);
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(*done);
}

TEST(ParseInetDiagReplyTest, BytesAfterDoneAreAnError) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(Concat(ReadFixture("inet_diag_listen_v4_done.bin"),
                                ReadFixture("inet_diag_listen_v4.bin")),
                         out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), "after NLMSG_DONE"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, NoopIsSkipped) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(
      Concat(ControlMessage(NLMSG_NOOP, 0), SocketMessage(MeminfoAttr(9))),
      out);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(out.size(), 1u);
}

TEST(ParseInetDiagReplyTest, BothFamiliesDumpAnswersAreSockets) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(
      Concat(SocketMessage(MeminfoAttr(9), AF_INET, TCPDIAG_GETSOCK),
             SocketMessage(MeminfoAttr(9), AF_INET6, TCPDIAG_GETSOCK)),
      out);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].family, AF_INET);
  EXPECT_EQ(out[1].family, AF_INET6);
  EXPECT_EQ(out[0].drops, 8u);
}

TEST(ParseInetDiagReplyTest, UnknownMessageTypeIsAnError) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(ControlMessage(99, 0), out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), "type 99"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, NlmsgLenShorterThanHeader) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  const uint32_t bad_len = 8;
  std::memcpy(bytes.data() + 164, &bad_len, sizeof(bad_len));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(done.status().message(), "nlmsg_len 8 at offset 164"))
      << done.status();
  EXPECT_EQ(out.size(), 1u);
}

TEST(ParseInetDiagReplyTest, NlmsgLenPastTheBuffer) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  const uint32_t huge_len = 0xffffffff;
  std::memcpy(bytes.data(), &huge_len, sizeof(huge_len));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(done.status().message(), "offset 0"))
      << done.status();
  EXPECT_TRUE(out.empty());
}

TEST(ParseInetDiagReplyTest, PayloadShorterThanInetDiagMsg) {
  std::vector<uint8_t> bytes = SocketMessage({});
  bytes.resize(NLMSG_HDRLEN + sizeof(inet_diag_msg) - 1);
  nlmsghdr header = LoadAt<nlmsghdr>(bytes, 0);
  header.nlmsg_len = bytes.size();
  std::memcpy(bytes.data(), &header, sizeof(header));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(done.status().message(), "shorter than inet_diag_msg"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, UnknownAddressFamilyIsAnError) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(SocketMessage(MeminfoAttr(9), AF_UNIX), out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), "address family 1"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, AttributeShorterThanItsHeader) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  // The first attribute of the first message (INET_DIAG_SHUTDOWN, rta_len 5).
  ASSERT_EQ(LoadAt<uint16_t>(bytes, kFirstAttr), 5);
  const uint16_t bad_len = 2;
  std::memcpy(bytes.data() + kFirstAttr, &bad_len, sizeof(bad_len));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(done.status().message(), "rta_len 2"))
      << done.status();
  EXPECT_TRUE(absl::StrContains(done.status().message(),
                                "offset " + std::to_string(kFirstAttr)))
      << done.status();
  EXPECT_TRUE(out.empty());
}

TEST(ParseInetDiagReplyTest, AttributePastItsMessage) {
  std::vector<uint8_t> bytes = ReadFixture("inet_diag_listen_v4.bin");
  // Claims more than the message holds, though the buffer goes on: the
  // attribute must stay inside nlmsg_len, not merely inside the buffer.
  const uint16_t bad_len = 200;
  std::memcpy(bytes.data() + kFirstAttr, &bad_len, sizeof(bad_len));
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), "rta_len 200"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, TrailingBytesShorterThanAnAttribute) {
  std::vector<uint8_t> attrs = MeminfoAttr(9);
  attrs.push_back(0);
  attrs.push_back(0);
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done = ParseInetDiagReply(SocketMessage(attrs), out);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::StrContains(done.status().message(), "2 trailing bytes"))
      << done.status();
}

TEST(ParseInetDiagReplyTest, MeminfoTooShortHasNoDrops) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(SocketMessage(MeminfoAttr(SK_MEMINFO_DROPS)), out);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].drops, std::nullopt);
  EXPECT_EQ(out[0].local_addr, "10.1.2.3");
  EXPECT_EQ(out[0].local_port, 443);
  EXPECT_EQ(out[0].rqueue, 5u);
  EXPECT_EQ(out[0].wqueue, 511u);
  EXPECT_EQ(out[0].inode, 4242u);
}

TEST(ParseInetDiagReplyTest, MeminfoJustLongEnoughHasDrops) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(SocketMessage(MeminfoAttr(SK_MEMINFO_DROPS + 1)), out);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(out.size(), 1u);
  // MeminfoAttr stores each counter's index as its value.
  EXPECT_EQ(out[0].drops, uint32_t{SK_MEMINFO_DROPS});
}

TEST(ParseInetDiagReplyTest, LongerMeminfoFromANewerKernel) {
  std::vector<InetDiagSocket> out;
  absl::StatusOr<bool> done =
      ParseInetDiagReply(SocketMessage(MeminfoAttr(16)), out);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].drops, uint32_t{SK_MEMINFO_DROPS});
}

TEST(ParseInetDiagReplyTest, CorruptingAnyByteNeverCrashes) {
  // Cheap deterministic cousin of fuzz/inet_diag_fuzz.cc: under ASan/UBSan
  // every result must be a status or a parse, never a fault.
  const std::vector<uint8_t> fixture =
      Concat(ReadFixture("inet_diag_listen_v4.bin"),
             ReadFixture("inet_diag_listen_v4_done.bin"));
  for (size_t i = 0; i < fixture.size(); ++i) {
    for (uint8_t value : {uint8_t{0x00}, uint8_t{0x03}, uint8_t{0xff}}) {
      std::vector<uint8_t> bytes = fixture;
      bytes[i] = value;
      std::vector<InetDiagSocket> out;
      absl::StatusOr<bool> done = ParseInetDiagReply(bytes, out);
      EXPECT_LE(out.size(), 2u);
      (void)done;
    }
  }
}

// The real kernel, in the test's own network namespace.
TEST(SockDiagTest, FindsOwnListenerWithBacklog) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid()) << std::strerror(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0)
      << std::strerror(errno);
  // Below the default somaxconn (4096), so the limit is the backlog itself.
  constexpr int kBacklog = 7;
  ASSERT_EQ(listen(listener.get(), kBacklog), 0) << std::strerror(errno);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);
  struct stat st {};
  ASSERT_EQ(fstat(listener.get(), &st), 0);

  // Two connections the listener never accepts fill two slots of the queue.
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(clients.back().valid());
    ASSERT_EQ(connect(clients.back().get(), reinterpret_cast<sockaddr*>(&addr),
                      sizeof(addr)),
              0)
        << std::strerror(errno);
  }

  // connect() returns once the client sees the SYN-ACK; the server queues
  // the child when it processes the final ACK, so allow a moment for it.
  // Every attempt reuses one socket, as a scrape does within a namespace.
  absl::StatusOr<SockDiag> sock_diag = SockDiag::Open();
  ASSERT_TRUE(sock_diag.ok()) << sock_diag.status();
  std::optional<InetDiagSocket> found;
  for (int attempt = 0; attempt < 100; ++attempt) {
    absl::StatusOr<std::vector<InetDiagSocket>> sockets =
        sock_diag->DumpTcp(AF_INET, StateBit(kTcpListen),
                           /*with_meminfo=*/true);
    ASSERT_TRUE(sockets.ok()) << sockets.status();
    found.reset();
    for (const InetDiagSocket& s : *sockets) {
      EXPECT_EQ(s.family, AF_INET);
      EXPECT_EQ(s.state, kTcpListen);
      if (s.local_port == port) found = s;
    }
    if (found.has_value() && found->rqueue == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(found.has_value()) << "listener on port " << port << " missing";
  EXPECT_EQ(found->local_addr, "127.0.0.1");
  EXPECT_EQ(found->wqueue, uint32_t{kBacklog});
  EXPECT_EQ(found->rqueue, 2u);
  EXPECT_EQ(found->drops, 0u);
  EXPECT_EQ(found->inode, st.st_ino);
}

TEST(SockDiagTest, Ipv6ListenerWithoutMeminfo) {
  UniqueFd listener(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener.valid()) GTEST_SKIP() << "no IPv6: " << std::strerror(errno);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    GTEST_SKIP() << "cannot bind ::1: " << std::strerror(errno);
  }
  ASSERT_EQ(listen(listener.get(), 5), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(
      getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin6_port);

  absl::StatusOr<SockDiag> sock_diag = SockDiag::Open();
  ASSERT_TRUE(sock_diag.ok()) << sock_diag.status();
  absl::StatusOr<std::vector<InetDiagSocket>> sockets = sock_diag->DumpTcp(
      AF_INET6, StateBit(kTcpListen), /*with_meminfo=*/false);
  ASSERT_TRUE(sockets.ok()) << sockets.status();
  bool seen = false;
  for (const InetDiagSocket& s : *sockets) {
    if (s.local_port != port || s.local_addr != "::1") continue;
    seen = true;
    EXPECT_EQ(s.family, AF_INET6);
    EXPECT_EQ(s.wqueue, 5u);
    EXPECT_EQ(s.drops, std::nullopt);
  }
  EXPECT_TRUE(seen) << "listener [::1]:" << port << " missing";
}

}  // namespace
}  // namespace tcpq::procfs

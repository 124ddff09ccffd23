#include "procfs/listeners.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace tcpq::procfs {
namespace {

InetDiagSocket Socket(int family, const char* addr, uint16_t port, uint32_t rq,
                      uint32_t wq, std::optional<uint32_t> drops,
                      uint8_t state = kTcpListen) {
  InetDiagSocket s;
  s.family = family;
  s.state = state;
  s.local_addr = addr;
  s.local_port = port;
  s.rqueue = rq;
  s.wqueue = wq;
  s.drops = drops;
  return s;
}

TEST(ListenersTest, SumsReuseportGroupsAndKeepsFamiliesApart) {
  Listeners listeners = GroupListeners({
      Socket(AF_INET, "0.0.0.0", 80, 3, 128, 5u),
      Socket(AF_INET, "0.0.0.0", 80, 1, 128, 2u),  // SO_REUSEPORT sibling
      Socket(AF_INET6, "::", 80, 0, 4096, 0u),
      Socket(AF_INET, "127.0.0.1", 9000, 0, 2, std::nullopt),
  });
  ASSERT_EQ(listeners.size(), 3u);
  const ListenerTotals& v4 = listeners.at({"0.0.0.0", 80});
  EXPECT_EQ(v4.sockets, 2u);
  EXPECT_EQ(v4.accept_queue_length, 4u);
  EXPECT_EQ(v4.accept_queue_limit, 256u);
  EXPECT_EQ(v4.drops, 7u);
  EXPECT_TRUE(v4.has_drops);
  EXPECT_EQ(listeners.at({"::", 80}).sockets, 1u);
  EXPECT_FALSE(listeners.at({"127.0.0.1", 9000}).has_drops);
}

TEST(ListenersTest, CountsSynQueueOnExactThenWildcardListener) {
  const Listeners listeners = GroupListeners({
      Socket(AF_INET, "0.0.0.0", 80, 0, 128, 0u),
      Socket(AF_INET, "127.0.0.1", 81, 0, 128, 0u),
      Socket(AF_INET6, "::", 82, 0, 128, 0u),
  });
  const SynQueueLengths lengths = CountSynQueue(
      {Socket(AF_INET, "10.1.2.3", 80, 0, 0, {}, kTcpSynRecv),
       Socket(AF_INET, "127.0.0.1", 80, 0, 0, {}, kTcpSynRecv),
       Socket(AF_INET, "127.0.0.1", 81, 0, 0, {}, kTcpSynRecv),
       Socket(AF_INET6, "::ffff:127.0.0.1", 82, 0, 0, {}, kTcpSynRecv),
       Socket(AF_INET, "127.0.0.1", 99, 0, 0, {}, kTcpSynRecv)},  // no listener
      listeners);
  EXPECT_EQ(lengths, (SynQueueLengths{{{"0.0.0.0", 80}, 2u},
                                      {{"127.0.0.1", 81}, 1u},
                                      {{"::", 82}, 1u}}));
}

}  // namespace
}  // namespace tcpq::procfs

#include "exporter/socket_walk.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bpf/walk_records.h"
#include "tests/walk_socket_builder.h"

namespace tcpq::socket_walk {
namespace {

using ::testing::ElementsAre;

constexpr uint32_t kNetns = 4026531840u;
constexpr uint64_t kSecond = 1000000000ull;
constexpr uint64_t kNow = 1000 * kSecond;

tcpq_walk_socket Socket(uint8_t state, const char* local, uint16_t local_port,
                        const char* remote, uint64_t cookie,
                        uint64_t since_ns = kNow, uint8_t flags = 0,
                        uint32_t netns = kNetns) {
  return test_support::WalkSocket(state, local, local_port, remote, cookie,
                                  since_ns, netns, flags);
}

// The entries of a BPF hash map, keyed by their bytes as the kernel's are.
template <typename Key, typename Value>
class Entries {
 public:
  Value& operator[](const Key& key) {
    std::array<uint8_t, sizeof(Key)> bytes;
    std::memcpy(bytes.data(), &key, bytes.size());
    auto& [k, v] = map_[bytes];
    k = key;
    return v;
  }
  void AppendTo(std::vector<std::pair<Key, Value>>& out) const {
    for (const auto& [bytes, entry] : map_) out.push_back(entry);
  }

 private:
  std::map<std::array<uint8_t, sizeof(Key)>, std::pair<Key, Value>> map_;
};

// Folds sockets into what walk_sockets leaves in its maps, as the BPF
// program does (bpf/tcpq.bpf.c), with every listener's port listening.
class Pass {
 public:
  void Add(const tcpq_walk_socket& s) { sockets_.push_back(s); }
  bpf::WalkAggregates Fold() const {
    bpf::WalkAggregates pass;
    std::map<uint16_t, bool> ports;  // any namespace, as the bitmap
    for (const tcpq_walk_socket& s : sockets_) {
      if (s.state == TCPQ_TCP_LISTEN) ports[s.local_port] = true;
    }
    std::map<std::pair<uint32_t, uint32_t>, uint64_t> oldest;
    Entries<tcpq_walk_endpoint, uint64_t> listeners;
    Entries<tcpq_walk_endpoint, tcpq_walk_queue> queued;
    Entries<tcpq_walk_peer_key, uint64_t> peers;
    for (const tcpq_walk_socket& s : sockets_) {
      ++pass.sockets;
      if (s.since_ns != 0) {
        uint64_t& o = oldest[{s.netns, s.state}];
        if (o == 0 || s.since_ns < o) o = s.since_ns;
      }
      tcpq_walk_peer_key key{};
      std::memcpy(key.local.addr, s.local_addr, 16);
      key.local.netns = s.netns;
      key.local.port = s.local_port;
      key.local.family = s.family;
      if (s.state == TCPQ_TCP_LISTEN) {
        ++listeners[key.local];
        continue;
      }
      const bool queued_here =
          (s.flags & TCPQ_WALK_NO_SOCKET) != 0 &&
          (s.state == TCPQ_TCP_ESTABLISHED || s.state == TCPQ_TCP_SYN_RECV ||
           s.state == TCPQ_TCP_CLOSE_WAIT);
      if ((s.state != TCPQ_TCP_ESTABLISHED && !queued_here) ||
          !ports.contains(s.local_port)) {
        continue;
      }
      if (queued_here) {
        tcpq_walk_queue& q = queued[key.local];
        ++q.count;
        if (s.since_ns != 0 &&
            (q.oldest_since_ns == 0 || s.since_ns < q.oldest_since_ns)) {
          q.oldest_since_ns = s.since_ns;
        }
      }
      if (s.state == TCPQ_TCP_ESTABLISHED) {
        std::memcpy(key.remote, s.remote_addr, 16);
        ++peers[key];
      }
    }
    for (const auto& [k, v] : oldest)
      pass.oldest.push_back({{k.first, k.second}, v});
    listeners.AppendTo(pass.listeners);
    queued.AppendTo(pass.queued);
    peers.AppendTo(pass.peers);
    return pass;
  }
  Summary Finish(uint64_t now_ns, const Options& options = {}) const {
    return Summarize(Fold(), now_ns, options);
  }

 private:
  std::vector<tcpq_walk_socket> sockets_;
};

// n established connections from `peer` to 127.0.0.1:80 (cookies from
// `first`), as the server side sees them.
void AddConnections(Pass& a, const char* peer, int n, uint64_t first) {
  for (int i = 0; i < n; ++i) {
    a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, peer, first + i));
  }
}

TEST(SocketWalkTest, PeersOfOneListener) {
  Pass a;
  AddConnections(a, "127.0.0.2", 25, 100);
  AddConnections(a, "127.0.0.3", 3, 200);
  a.Add(Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 1));
  // The clients' own sockets: local ports that nobody listens on.
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.2", 40000, "127.0.0.1", 300));
  const Summary summary =
      a.Finish(kNow, {.top_peers = 3, .peer_min_connections = 10});
  EXPECT_EQ(summary.sockets, 30u);  // every socket the pass saw
  const ListenerSummary& l =
      summary.namespaces.at(kNetns).listeners.at({"0.0.0.0", 80});
  EXPECT_EQ(l.peers, 2u);
  EXPECT_EQ(l.peer_connections_max, 25u);
  EXPECT_THAT(l.top_peers, ElementsAre(Peer{"127.0.0.2", 25}));
  EXPECT_EQ(l.accept_queue_oldest_seconds, 0);
}

TEST(SocketWalkTest, ReusePortListenersAreOneListener) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 1));
  a.Add(Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 2));
  AddConnections(a, "127.0.0.2", 2, 100);
  const bpf::WalkAggregates pass = a.Fold();
  ASSERT_EQ(pass.listeners.size(), 1u);
  EXPECT_EQ(pass.listeners[0].second, 2u);  // two sockets on that endpoint
  EXPECT_THAT(ListeningPorts(pass), ElementsAre(80));
  const Summary summary = Summarize(pass, kNow, {.peer_min_connections = 1});
  const auto& listeners = summary.namespaces.at(kNetns).listeners;
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_THAT(listeners.at({"0.0.0.0", 80}).top_peers,
              ElementsAre(Peer{"127.0.0.2", 2}));
}

TEST(SocketWalkTest, TopPeersAreBoundedAndTiesGoToTheLowestAddress) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "127.0.0.1", 80, "0.0.0.0", 1));
  AddConnections(a, "10.0.0.9", 4, 100);
  AddConnections(a, "10.0.0.10", 4, 200);  // numerically after .9
  AddConnections(a, "10.0.0.1", 4, 300);
  AddConnections(a, "10.0.0.2", 1, 400);  // below the minimum
  const Summary summary =
      a.Finish(kNow, {.top_peers = 2, .peer_min_connections = 2});
  const ListenerSummary& l =
      summary.namespaces.at(kNetns).listeners.at({"127.0.0.1", 80});
  EXPECT_EQ(l.peers, 4u);
  EXPECT_EQ(l.peer_connections_max, 4u);
  EXPECT_THAT(l.top_peers,
              ElementsAre(Peer{"10.0.0.1", 4}, Peer{"10.0.0.9", 4}));
}

TEST(SocketWalkTest, NoTopPeersBelowTheMinimum) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "127.0.0.1", 80, "0.0.0.0", 1));
  AddConnections(a, "127.0.0.2", 9, 100);
  const Summary summary =
      a.Finish(kNow, {.top_peers = 3, .peer_min_connections = 10});
  const ListenerSummary& l =
      summary.namespaces.at(kNetns).listeners.at({"127.0.0.1", 80});
  EXPECT_EQ(l.peers, 1u);
  EXPECT_EQ(l.peer_connections_max, 9u);
  EXPECT_TRUE(l.top_peers.empty());
}

TEST(SocketWalkTest, DualStackListenerGetsV4MappedPeers) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "::", 443, "::", 1));
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "::ffff:127.0.0.1", 443,
               "::ffff:127.0.0.5", 2));
  const Summary summary =
      a.Finish(kNow, {.top_peers = 3, .peer_min_connections = 1});
  const ListenerSummary& l =
      summary.namespaces.at(kNetns).listeners.at({"::", 443});
  EXPECT_THAT(l.top_peers, ElementsAre(Peer{"::ffff:127.0.0.5", 1}));
}

TEST(SocketWalkTest, ExactListenerWinsOverWildcardAndNamespacesStayApart) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 1));
  a.Add(Socket(TCPQ_TCP_LISTEN, "127.0.0.1", 80, "0.0.0.0", 2));
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 3));
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "10.1.1.1", 80, "127.0.0.3", 4));
  // Same addresses in another namespace, without a listener there.
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 5, kNow, 0,
               7));
  const Summary summary =
      a.Finish(kNow, {.top_peers = 3, .peer_min_connections = 1});
  const auto& listeners = summary.namespaces.at(kNetns).listeners;
  EXPECT_THAT(listeners.at({"127.0.0.1", 80}).top_peers,
              ElementsAre(Peer{"127.0.0.2", 1}));
  EXPECT_THAT(listeners.at({"0.0.0.0", 80}).top_peers,
              ElementsAre(Peer{"127.0.0.3", 1}));
  EXPECT_TRUE(summary.namespaces.at(7).listeners.empty());
}

TEST(SocketWalkTest, OldestPerStateAndAcceptQueue) {
  Pass a;
  a.Add(Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 1,
               kNow - 100 * kSecond));
  // Waiting in the accept queue for 7 s and 2 s; one accepted for 50 s.
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 2,
               kNow - 7 * kSecond, TCPQ_WALK_NO_SOCKET));
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 3,
               kNow - 2 * kSecond, TCPQ_WALK_NO_SOCKET));
  a.Add(Socket(TCPQ_TCP_ESTABLISHED, "127.0.0.1", 80, "127.0.0.2", 4,
               kNow - 50 * kSecond));
  // CLOSE_WAIT seen at start 30 s ago (a lower bound), one of unknown age.
  a.Add(Socket(TCPQ_TCP_CLOSE_WAIT, "127.0.0.1", 9, "127.0.0.2", 5,
               kNow - 30 * kSecond, TCPQ_WALK_SEEDED));
  a.Add(Socket(TCPQ_TCP_CLOSE_WAIT, "127.0.0.1", 9, "127.0.0.2", 6, 0));
  const NamespaceSummary ns = a.Finish(kNow).namespaces.at(kNetns);
  EXPECT_EQ(ns.oldest_seconds[TCPQ_TCP_ESTABLISHED], 50.0);
  EXPECT_EQ(ns.oldest_seconds[TCPQ_TCP_CLOSE_WAIT], 30.0);
  EXPECT_EQ(ns.oldest_seconds[TCPQ_TCP_LISTEN], 100.0);
  EXPECT_FALSE(ns.oldest_seconds[TCPQ_TCP_SYN_SENT].has_value());
  const ListenerSummary& l = ns.listeners.at({"0.0.0.0", 80});
  EXPECT_EQ(l.accept_queue_oldest_seconds, 7.0);
  EXPECT_EQ(l.accept_queue_seen, 2u);
  EXPECT_EQ(l.peers, 1u);
  EXPECT_EQ(l.peer_connections_max, 3u);  // queued connections count too
}

TEST(WalkRecordsTest, RecordsStraddlingReadsAndInvalidOnes) {
  std::vector<tcpq_walk_socket> in = {
      Socket(TCPQ_TCP_LISTEN, "0.0.0.0", 80, "0.0.0.0", 1),
      Socket(TCPQ_TCP_ESTABLISHED, "::1", 80, "::1", 2)};
  tcpq_walk_socket bad = in[0];
  bad.family = 99;
  in.push_back(bad);
  tcpq_walk_socket closed = in[0];
  closed.state = TCPQ_TCP_CLOSE;
  in.push_back(closed);
  std::vector<uint8_t> bytes(in.size() * sizeof(tcpq_walk_socket));
  std::memcpy(bytes.data(), in.data(), bytes.size());
  bpf::RecordReader<tcpq_walk_socket> reader;
  std::vector<uint64_t> cookies;
  const std::span<const uint8_t> all(bytes);
  for (size_t i = 0; i < all.size(); i += 37) {
    reader.Feed(
        all.subspan(i, std::min<size_t>(37, all.size() - i)),
        [&](const tcpq_walk_socket& s) { cookies.push_back(s.cookie); });
  }
  EXPECT_THAT(cookies, ElementsAre(1, 2));
  EXPECT_EQ(reader.Finish().code(), absl::StatusCode::kDataLoss);  // 2 invalid

  bpf::RecordReader<tcpq_walk_socket> truncated;
  truncated.Feed(all.first(70), [](const tcpq_walk_socket&) {});
  EXPECT_EQ(truncated.Finish().code(), absl::StatusCode::kDataLoss);
}

tcpq_listener_record Listener(uint32_t netns, int family, const char* addr,
                              uint16_t port, uint32_t queued, uint32_t limit,
                              uint32_t drops, uint64_t inode) {
  tcpq_listener_record r{};
  r.netns = netns;
  r.family = static_cast<uint8_t>(family);
  ::inet_pton(family, addr, r.local_addr);
  r.local_port = port;
  r.ack_backlog = queued;
  r.max_ack_backlog = limit;
  r.drops = drops;
  r.inode = inode;
  return r;
}

// As procfs::GroupListeners groups a sock_diag dump: per namespace, an
// SO_REUSEPORT group summed, addresses as ss prints them, drops present.
TEST(SocketWalkTest, ListenerRecordsGroupAsADumpOfEachNamespace) {
  const std::vector<tcpq_listener_record> records = {
      Listener(7, AF_INET, "127.0.0.1", 8080, 3, 2, 9, 101),
      Listener(7, AF_INET6, "::", 443, 1, 128, 0, 102),
      Listener(7, AF_INET6, "::", 443, 0, 128, 2, 103),
      Listener(8, AF_INET, "0.0.0.0", 8080, 0, 4096, 0, 201)};
  const auto listeners = GroupListenerRecords(records);
  ASSERT_EQ(listeners.size(), 2u);
  const procfs::Listeners& seven = listeners.at(7);
  EXPECT_EQ(seven.at({"127.0.0.1", 8080}),
            (procfs::ListenerTotals{.sockets = 1,
                                    .accept_queue_length = 3,
                                    .accept_queue_limit = 2,
                                    .drops = 9,
                                    .has_drops = true,
                                    .inodes = {101}}));
  EXPECT_EQ(seven.at({"::", 443}),
            (procfs::ListenerTotals{.sockets = 2,
                                    .accept_queue_length = 1,
                                    .accept_queue_limit = 256,
                                    .drops = 2,
                                    .has_drops = true,
                                    .inodes = {102, 103}}));
  EXPECT_EQ(listeners.at(8).size(), 1u);
  EXPECT_EQ(listeners.at(8).at({"0.0.0.0", 8080}).accept_queue_limit, 4096u);
  EXPECT_TRUE(GroupListenerRecords({}).empty());
}

TEST(SocketWalkTest, AWalkThatStopsCompletingIsStale) {
  const absl::Time end = absl::FromUnixSeconds(1000);
  // Three intervals, at least a minute.
  EXPECT_TRUE(Freshness(end, end + absl::Seconds(45), absl::Seconds(15)).ok());
  EXPECT_TRUE(Freshness(end, end + absl::Seconds(60), absl::Seconds(15)).ok());
  const absl::Status stale =
      Freshness(end, end + absl::Seconds(61), absl::Seconds(15));
  EXPECT_EQ(stale.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(stale.message().find("1m1s"), std::string::npos) << stale;
  EXPECT_TRUE(Freshness(end, end + absl::Minutes(3), absl::Minutes(1)).ok());
  EXPECT_FALSE(Freshness(end, end + absl::Minutes(3) + absl::Seconds(1),
                         absl::Minutes(1))
                   .ok());
}

}  // namespace
}  // namespace tcpq::socket_walk

#include "exporter/socket_walk.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "procfs/inet_diag.h"

namespace tcpq::socket_walk {
namespace {

// An address of a family, as raw bytes (AF_INET in the first 4).
struct Address {
  uint8_t family = 0;
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const Address&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Address& a) {
    return H::combine(std::move(h), a.family, a.bytes);
  }
};

// A listening endpoint of a namespace, as raw bytes: formatting addresses
// is kept to listeners and the top peers.
struct Endpoint {
  uint32_t netns = 0;
  Address address;
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Endpoint& e) {
    return H::combine(std::move(h), e.netns, e.address, e.port);
  }
};

Address LocalAddress(const tcpq_walk_socket& s) {
  Address a;
  a.family = s.family;
  std::memcpy(a.bytes.data(), s.local_addr, s.family == AF_INET ? 4 : 16);
  return a;
}

Address RemoteAddress(const tcpq_walk_socket& s) {
  Address a;
  a.family = s.family;
  std::memcpy(a.bytes.data(), s.remote_addr, s.family == AF_INET ? 4 : 16);
  return a;
}

double Seconds(uint64_t now_ns, uint64_t since_ns) {
  return now_ns > since_ns ? static_cast<double>(now_ns - since_ns) / 1e9 : 0;
}

void KeepMax(std::optional<double>& oldest, double age) {
  if (!oldest.has_value() || age > *oldest) oldest = age;
}

// Most connections first, then lowest address: a stable series set.
std::vector<Peer> TopPeers(const absl::flat_hash_map<Address, uint64_t>& peers,
                           const Options& options) {
  std::vector<std::pair<uint64_t, Address>> eligible;
  for (const auto& [address, connections] : peers) {
    if (connections >= options.peer_min_connections) {
      eligible.emplace_back(connections, address);
    }
  }
  const auto order = [](const auto& a, const auto& b) {
    return std::tie(b.first, a.second) < std::tie(a.first, b.second);
  };
  const size_t n = std::min(options.top_peers, eligible.size());
  std::partial_sort(eligible.begin(), eligible.begin() + n, eligible.end(),
                    order);
  std::vector<Peer> top;
  for (size_t i = 0; i < n; ++i) {
    top.push_back({procfs::FormatAddress(eligible[i].second.family,
                                         eligible[i].second.bytes.data()),
                   eligible[i].first});
  }
  return top;
}

}  // namespace

bool InAcceptQueue(const tcpq_walk_socket& s) {
  return (s.flags & TCPQ_WALK_NO_SOCKET) != 0 &&
         (s.state == TCPQ_TCP_ESTABLISHED || s.state == TCPQ_TCP_SYN_RECV ||
          s.state == TCPQ_TCP_CLOSE_WAIT);
}

void Aggregator::Add(const tcpq_walk_socket& socket) {
  if (!cookies_.insert(socket.cookie).second) return;
  sockets_.push_back(socket);
}

Summary Aggregator::Finish(uint64_t now_ns) {
  Summary summary;
  summary.sockets = sockets_.size();
  // The listeners first: their connections may come before them.
  struct Listener {
    NamespaceSummary* ns;
    std::map<procfs::ListenerKey, ListenerSummary>::iterator summary;
    absl::flat_hash_map<Address, uint64_t> peers;
  };
  absl::flat_hash_map<Endpoint, Listener> listeners;
  for (const tcpq_walk_socket& s : sockets_) {
    NamespaceSummary& ns = summary.namespaces[s.netns];
    if (s.state != TCPQ_TCP_LISTEN) continue;
    const Address local = LocalAddress(s);
    const auto [it, inserted] =
        listeners.try_emplace(Endpoint{s.netns, local, s.local_port});
    if (inserted) {
      const procfs::ListenerKey key{
          procfs::FormatAddress(s.family, local.bytes.data()), s.local_port};
      it->second.ns = &ns;
      it->second.summary = ns.listeners.try_emplace(key).first;
    }
  }
  for (const tcpq_walk_socket& s : sockets_) {
    NamespaceSummary& ns = summary.namespaces[s.netns];
    const double age = Seconds(now_ns, s.since_ns);
    if (s.since_ns != 0) KeepMax(ns.oldest_seconds[s.state], age);
    if (s.state == TCPQ_TCP_LISTEN) continue;
    const bool queued = InAcceptQueue(s);
    if (s.state != TCPQ_TCP_ESTABLISHED && !queued) continue;
    const Address local = LocalAddress(s);
    Address wildcard;  // all zeroes: 0.0.0.0 or ::
    wildcard.family = s.family;
    const auto it =
        procfs::FindListener(listeners, Endpoint{s.netns, local, s.local_port},
                             Endpoint{s.netns, wildcard, s.local_port});
    if (it == listeners.end()) continue;  // a client's socket
    Listener& listener = it->second;
    if (s.state == TCPQ_TCP_ESTABLISHED) ++listener.peers[RemoteAddress(s)];
    if (queued) {
      ListenerSummary& l = listener.summary->second;
      ++l.accept_queue_seen;
      if (s.since_ns != 0) {
        l.accept_queue_oldest_seconds =
            std::max(l.accept_queue_oldest_seconds, age);
      }
    }
  }
  for (auto& [endpoint, listener] : listeners) {
    ListenerSummary& l = listener.summary->second;
    l.peers = listener.peers.size();
    for (const auto& [address, connections] : listener.peers) {
      l.peer_connections_max = std::max(l.peer_connections_max, connections);
    }
    l.top_peers = TopPeers(listener.peers, options_);
  }
  cookies_.clear();
  sockets_.clear();
  return summary;
}

}  // namespace tcpq::socket_walk

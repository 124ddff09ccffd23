#include "exporter/socket_walk.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"
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

Address AddressOf(uint8_t family, const uint8_t* bytes) {
  Address a;
  a.family = family;
  std::memcpy(a.bytes.data(), bytes, family == AF_INET ? 4 : 16);
  return a;
}

double Seconds(uint64_t now_ns, uint64_t since_ns) {
  return now_ns > since_ns ? static_cast<double>(now_ns - since_ns) / 1e9 : 0;
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

Summary Summarize(const bpf::WalkAggregates& pass, uint64_t now_ns,
                  const Options& options) {
  Summary summary;
  summary.sockets = pass.sockets;
  struct Listener {
    ListenerSummary* summary;
    absl::flat_hash_map<Address, uint64_t> peers;
  };
  absl::flat_hash_map<Endpoint, Listener> listeners;
  for (const auto& [e, sockets] : pass.listeners) {
    if (e.family != AF_INET && e.family != AF_INET6) continue;
    const Address local = AddressOf(e.family, e.addr);
    const auto [it, inserted] =
        listeners.try_emplace(Endpoint{e.netns, local, e.port});
    if (inserted) {
      const procfs::ListenerKey key{
          procfs::FormatAddress(e.family, local.bytes.data()), e.port};
      it->second.summary = &summary.namespaces[e.netns].listeners[key];
    }
  }
  for (const auto& [key, since_ns] : pass.oldest) {
    if (key.state >= TCPQ_STATES || since_ns == 0) continue;
    summary.namespaces[key.netns].oldest_seconds[key.state] =
        Seconds(now_ns, since_ns);
  }
  // The listener a local endpoint belongs to, or null.
  const auto find = [&](const tcpq_walk_endpoint& e) -> Listener* {
    if (e.family != AF_INET && e.family != AF_INET6) return nullptr;
    Address wildcard;  // all zeroes: 0.0.0.0 or ::
    wildcard.family = e.family;
    const auto it = procfs::FindListener(
        listeners, Endpoint{e.netns, AddressOf(e.family, e.addr), e.port},
        Endpoint{e.netns, wildcard, e.port});
    return it == listeners.end() ? nullptr : &it->second;
  };
  for (const auto& [endpoint, queue] : pass.queued) {
    Listener* listener = find(endpoint);
    if (listener == nullptr) continue;
    ListenerSummary& l = *listener->summary;
    l.accept_queue_seen += queue.count;
    if (queue.oldest_since_ns != 0) {
      l.accept_queue_oldest_seconds =
          std::max(l.accept_queue_oldest_seconds,
                   Seconds(now_ns, queue.oldest_since_ns));
    }
  }
  for (const auto& [key, connections] : pass.peers) {
    Listener* listener = find(key.local);
    if (listener == nullptr) continue;
    listener->peers[AddressOf(key.local.family, key.remote)] += connections;
  }
  for (auto& [endpoint, listener] : listeners) {
    ListenerSummary& l = *listener.summary;
    l.peers = listener.peers.size();
    for (const auto& [address, connections] : listener.peers) {
      l.peer_connections_max = std::max(l.peer_connections_max, connections);
    }
    l.top_peers = TopPeers(listener.peers, options);
  }
  return summary;
}

std::vector<uint16_t> ListeningPorts(const bpf::WalkAggregates& pass) {
  std::vector<uint16_t> ports;
  for (const auto& [e, sockets] : pass.listeners) {
    ports.push_back(e.port);
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

absl::flat_hash_map<uint64_t, procfs::Listeners> GroupListenerRecords(
    std::span<const tcpq_listener_record> records) {
  absl::flat_hash_map<uint64_t, std::vector<procfs::InetDiagSocket>> sockets;
  for (const tcpq_listener_record& r : records) {
    sockets[r.netns].push_back({
        .family = r.family,
        .state = procfs::kTcpListen,
        .local_addr = procfs::FormatAddress(r.family, r.local_addr),
        .local_port = r.local_port,
        .rqueue = r.ack_backlog,
        .wqueue = r.max_ack_backlog,
        .drops = r.drops,
        .inode = static_cast<uint32_t>(r.inode),
    });
  }
  absl::flat_hash_map<uint64_t, procfs::Listeners> listeners;
  for (const auto& [netns, dump] : sockets) {
    listeners[netns] = procfs::GroupListeners(dump);
  }
  return listeners;
}

absl::Status Freshness(absl::Time last_end, absl::Time now,
                       absl::Duration interval) {
  const absl::Duration allowed = std::max(3 * interval, absl::Minutes(1));
  if (now - last_end <= allowed) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "socket walk stale: nothing completed for ",
      absl::FormatDuration(absl::Trunc(now - last_end, absl::Seconds(1))),
      " (interval ", absl::FormatDuration(interval), ")"));
}

}  // namespace tcpq::socket_walk

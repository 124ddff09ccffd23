#pragma once

// What one pass over every socket (the sockets collector's walk) says per
// namespace and per listener: the oldest socket of each state, the oldest
// connection waiting in each accept queue, and the remote addresses holding
// established connections to each listener. Pure: fed records, no I/O.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bpf/tcpq.h"
#include "bpf/walk_records.h"
#include "procfs/listeners.h"

namespace tcpq::socket_walk {

struct Options {
  size_t top_peers = 3;  // --collector.sockets.top-peers
  uint64_t peer_min_connections =
      10;  // --collector.sockets.peer-min-connections
};

struct Peer {
  std::string address;  // as ss prints it
  uint64_t connections = 0;
  bool operator==(const Peer&) const = default;
};

struct ListenerSummary {
  uint64_t peers = 0;                 // distinct remote addresses
  uint64_t peer_connections_max = 0;  // of the busiest one
  // At most Options::top_peers, each with at least peer_min_connections,
  // most connections first, ties by lowest address.
  std::vector<Peer> top_peers;
  // The longest wait of a connection in its accept queue, 0 when none.
  double accept_queue_oldest_seconds = 0;
  uint64_t accept_queue_seen = 0;  // queued connections the pass saw
};

struct NamespaceSummary {
  // Per TCP state: the age of its oldest socket in seconds; nullopt: none.
  std::array<std::optional<double>, TCPQ_STATES> oldest_seconds{};
  std::map<procfs::ListenerKey, ListenerSummary> listeners;
};

struct Summary {
  absl::flat_hash_map<uint32_t, NamespaceSummary> namespaces;
  uint64_t sockets = 0;  // distinct sockets
};

// The TCP states whose age a walk can see (full sockets): every countable
// state but TIME_WAIT (timewait sockets have no storage).
inline constexpr uint32_t kAgedStates[] = {
    TCPQ_TCP_ESTABLISHED, TCPQ_TCP_SYN_SENT,  TCPQ_TCP_SYN_RECV,
    TCPQ_TCP_FIN_WAIT1,   TCPQ_TCP_FIN_WAIT2, TCPQ_TCP_CLOSE_WAIT,
    TCPQ_TCP_LAST_ACK,    TCPQ_TCP_LISTEN,    TCPQ_TCP_CLOSING};

// What one pass found (bpf::Programs::WalkAggregated), per namespace and
// listener, ages as of `now_ns` (CLOCK_MONOTONIC, the clock of since_ns).
// Listeners come from the pass itself; a queued connection or a peer counts
// for the listener procfs::FindListener ties its local endpoint to.
Summary Summarize(const bpf::WalkAggregates& pass, uint64_t now_ns,
                  const Options& options);

// The ports of every listener of a pass, sorted, each once: the server-side
// ports the next pass counts peers on.
std::vector<uint16_t> ListeningPorts(const bpf::WalkAggregates& pass);

// The listening sockets of read_listeners (bpf::Programs::ReadListeners),
// each as a LISTEN-only sock_diag dump of its namespace reports it, grouped
// by namespace as procfs::GroupListeners groups a dump.
absl::flat_hash_map<uint64_t, procfs::Listeners> GroupListenerRecords(
    std::span<const tcpq_listener_record> records);

// OK while the walk keeps up: its last completed pass (or, before the
// first, the walker's start) ended at most 3 intervals (and at least a
// minute) before `now`. Else an error saying so: a walker that hangs, or
// whose every pass fails, must not leave old figures looking current.
absl::Status Freshness(absl::Time last_end, absl::Time now,
                       absl::Duration interval);

}  // namespace tcpq::socket_walk

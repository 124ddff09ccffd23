// libFuzzer target: what the BPF walks over the socket storage hand to user
// space (the entries of the sockets collector's aggregate maps, and
// tcpq_connection, tcpq_listener_record and tcpq_netns_record records cut at
// arbitrary read() boundaries), through
// everything that consumes it: the sockets collector's summary and
// /connections' filter, selection and rendering.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "bpf/walk_records.h"
#include "exporter/connections.h"
#include "exporter/socket_walk.h"

namespace {

// Reads `bytes` as an array of map entries (key then value).
template <typename Key, typename Value>
void Fill(std::span<const uint8_t> bytes,
          std::vector<std::pair<Key, Value>>& out) {
  constexpr size_t kSize = sizeof(Key) + sizeof(Value);
  for (size_t i = 0; i + kSize <= bytes.size(); i += kSize) {
    std::pair<Key, Value> entry;
    std::memcpy(&entry.first, bytes.data() + i, sizeof(Key));
    std::memcpy(&entry.second, bytes.data() + i + sizeof(Key), sizeof(Value));
    out.push_back(entry);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // The first byte picks the read() size, as the kernel's chunks vary.
  const size_t step = 1 + data[0] % 97;
  const std::span<const uint8_t> bytes(data + 1, size - 1);

  // The same bytes as the entries of each aggregate map (whose values the
  // kernel wrote as well).
  tcpq::bpf::WalkAggregates pass;
  Fill(bytes.subspan(std::min<size_t>(bytes.size(), 3)), pass.listeners);
  Fill(bytes, pass.oldest);
  Fill(bytes.subspan(std::min<size_t>(bytes.size(), 7)), pass.queued);
  Fill(bytes.subspan(std::min<size_t>(bytes.size(), 13)), pass.peers);
  pass.sockets = bytes.size();
  const tcpq::socket_walk::Summary summary = tcpq::socket_walk::Summarize(
      pass, 1ull << 62, {.top_peers = 2, .peer_min_connections = 1});
  for (const auto& [netns, ns] : summary.namespaces) {
    for (const auto& [key, listener] : ns.listeners) {
      if (listener.top_peers.size() > 2 ||
          listener.top_peers.size() > listener.peers) {
        __builtin_trap();
      }
    }
  }
  (void)tcpq::socket_walk::ListeningPorts(pass);

  tcpq::connections::Query query;
  query.limit = 3;
  tcpq::connections::Oldest oldest(query.limit);
  tcpq::bpf::RecordReader<tcpq_connection> connections;
  for (size_t i = 0; i < bytes.size(); i += step) {
    connections.Feed(
        bytes.subspan(i, std::min(step, bytes.size() - i)),
        [&](const tcpq_connection& c) {
          tcpq::connections::Connection shown{
              c,
              tcpq::connections::SecondsInState(c.socket.since_ns, 1ull << 62),
              {}};
          if (tcpq::connections::Matches(query, c, shown.seconds_in_state,
                                         shown.identity)) {
            oldest.Add(shown);
          }
        });
  }
  // The same bytes as read_listeners' output, grouped per namespace.
  tcpq::bpf::RecordReader<tcpq_listener_record> listener_reader;
  std::vector<tcpq_listener_record> listeners;
  for (size_t i = 0; i < bytes.size(); i += step) {
    listener_reader.Feed(
        bytes.subspan(i, std::min(step, bytes.size() - i)),
        [&](const tcpq_listener_record& l) { listeners.push_back(l); });
  }
  (void)listener_reader.Finish();
  for (const auto& [netns, grouped] :
       tcpq::socket_walk::GroupListenerRecords(listeners)) {
    for (const auto& [key, totals] : grouped) {
      if (totals.sockets == 0 || totals.inodes.size() != totals.sockets) {
        __builtin_trap();
      }
    }
  }

  // The same bytes as read_netns' output: every entry a record claims is read.
  tcpq::bpf::RecordReader<tcpq_netns_record> mib_reader;
  uint64_t sum = 0;
  for (size_t i = 0; i < bytes.size(); i += step) {
    mib_reader.Feed(bytes.subspan(i, std::min(step, bytes.size() - i)),
                    [&](const tcpq_netns_record& m) {
                      for (__u64 v : tcpq::bpf::TcpMibEntries(m)) sum += v;
                      for (__u64 v : tcpq::bpf::LinuxMibEntries(m)) sum += v;
                    });
  }
  (void)mib_reader.Finish();
  (void)sum;

  const auto shown = oldest.Take();
  if (shown.size() > query.limit) __builtin_trap();
  (void)tcpq::connections::RenderJson(shown, true);
  (void)tcpq::connections::RenderText(shown, true);
  return 0;
}

// libFuzzer target: the bytes of the BPF walks over the socket storage
// (tcpq_walk_socket and tcpq_connection records), cut at arbitrary read()
// boundaries, through everything that consumes them: the sockets
// collector's aggregation and /connections' filter, selection and rendering.
#include <cstddef>
#include <cstdint>
#include <span>

#include "bpf/walk_records.h"
#include "exporter/connections.h"
#include "exporter/socket_walk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // The first byte picks the read() size, as the kernel's chunks vary.
  const size_t step = 1 + data[0] % 97;
  const std::span<const uint8_t> bytes(data + 1, size - 1);

  tcpq::socket_walk::Aggregator aggregator(
      {.top_peers = 2, .peer_min_connections = 1});
  tcpq::bpf::RecordReader<tcpq_walk_socket> walk;
  for (size_t i = 0; i < bytes.size(); i += step) {
    walk.Feed(bytes.subspan(i, std::min(step, bytes.size() - i)),
              [&](const tcpq_walk_socket& s) { aggregator.Add(s); });
  }
  (void)walk.Finish();
  const tcpq::socket_walk::Summary summary = aggregator.Finish(1ull << 62);
  uint64_t listed = 0;
  for (const auto& [netns, ns] : summary.namespaces) {
    for (const auto& [key, listener] : ns.listeners) {
      if (listener.top_peers.size() > 2 ||
          listener.peer_connections_max > summary.sockets) {
        __builtin_trap();
      }
      listed += listener.peers;
    }
  }
  if (listed > summary.sockets) __builtin_trap();

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
  const auto shown = oldest.Take();
  if (shown.size() > query.limit) __builtin_trap();
  (void)tcpq::connections::RenderJson(shown, true);
  (void)tcpq::connections::RenderText(shown, true);
  return 0;
}

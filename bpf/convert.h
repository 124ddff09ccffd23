#pragma once

// Pure conversions from what the BPF maps hold to what Prometheus wants:
// TCP state names, log2 histograms to cumulative buckets in seconds, and the
// timewait count of /proc/net/sockstat. No I/O, unit-tested.

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "bpf/tcpq.h"
#include "prometheus/client_metric.h"

namespace tcpq::bpf {

// The kernel's name of a TCP state in lower case ("established",
// "syn_sent", ...), or "" for a number that is not a TCP state.
absl::string_view TcpStateName(uint32_t state);

// Bucket bounds, powers of two in seconds: 2^kFirstBucketLog2 s (0.95 us)
// to 2^kLastBucketLog2 s (4096 s, 68 min), then +Inf.
inline constexpr int kFirstBucketLog2 = -20;
inline constexpr int kLastBucketLog2 = 12;

// A histogram from its kernel form (see tcpq.h: slot i holds durations in
// (2^(i-31), 2^(i-30)] seconds; sum_ns their sum). Buckets are cumulative
// with `le` = 2^k seconds for k in [kFirstBucketLog2, kLastBucketLog2], then
// +Inf; shorter durations land in the first bucket. The count is the number
// of durations.
prometheus::ClientMetric::Histogram ToPrometheusHistogram(
    const tcpq_hist& hist);

// The "tw" field of the "TCP:" line of /proc/net/sockstat: timewait sockets
// of that namespace, IPv4 and IPv6. nullopt when absent or malformed.
std::optional<uint64_t> ParseSockstatTimeWait(absl::string_view sockstat);

}  // namespace tcpq::bpf

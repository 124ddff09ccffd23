#pragma once

// Pure conversions from what the BPF maps hold to what Prometheus wants:
// TCP state names, log2 histograms to cumulative buckets in seconds, and the
// timewait count of /proc/net/sockstat. No I/O, unit-tested.

#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

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

// Adds one CPU's value of a per-CPU map to a total, 64-bit word by word.
// Every value type of the per-CPU maps is made of 64-bit words (the signed
// socket gauge adds up the same in two's complement), so a field added to a
// value cannot be left out of its sum.
template <typename Value>
void AddCpu(Value& total, const Value& cpu) {
  static_assert(sizeof(Value) % sizeof(uint64_t) == 0 &&
                    std::is_trivially_copyable_v<Value>,
                "per-CPU values are made of 64-bit words");
  constexpr size_t kWords = sizeof(Value) / sizeof(uint64_t);
  uint64_t sum[kWords], add[kWords];
  std::memcpy(sum, &total, sizeof(Value));
  std::memcpy(add, &cpu, sizeof(Value));
  for (size_t i = 0; i < kWords; ++i) sum[i] += add[i];
  std::memcpy(&total, sum, sizeof(Value));
}

// The "tw" field of the "TCP:" line of /proc/net/sockstat: timewait sockets
// of that namespace, IPv4 and IPv6. nullopt when absent or malformed.
std::optional<uint64_t> ParseSockstatTimeWait(absl::string_view sockstat);

}  // namespace tcpq::bpf

#include "bpf/convert.h"

#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tcpq::bpf {

absl::string_view TcpStateName(uint32_t state) {
  static constexpr absl::string_view kNames[] = {
      "",           "established", "syn_sent",  "syn_recv",
      "fin_wait1",  "fin_wait2",   "time_wait", "close",
      "close_wait", "last_ack",    "listen",    "closing"};
  if (state >= std::size(kNames)) return "";
  return kNames[state];
}

prometheus::ClientMetric::Histogram ToPrometheusHistogram(
    const tcpq_hist& hist) {
  const std::span<const __u64> slots(hist.slots);
  prometheus::ClientMetric::Histogram histogram;
  uint64_t cumulative = 0;
  size_t next = 0;  // the next slot to add
  for (int k = kFirstBucketLog2; k <= kLastBucketLog2; ++k) {
    const size_t last = static_cast<size_t>(k - TCPQ_HIST_SLOT0_LOG2_SECONDS);
    for (; next < slots.size() && next <= last; ++next) {
      cumulative += slots[next];
    }
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = std::ldexp(1.0, k);  // exact, prints exactly
    histogram.bucket.push_back(bucket);
  }
  for (; next < slots.size(); ++next) cumulative += slots[next];
  prometheus::ClientMetric::Bucket inf;
  inf.cumulative_count = cumulative;
  inf.upper_bound = std::numeric_limits<double>::infinity();
  histogram.bucket.push_back(inf);
  histogram.sample_count = cumulative;
  histogram.sample_sum = static_cast<double>(hist.sum_ns) / 1e9;
  return histogram;
}

std::optional<uint64_t> ParseSockstatTimeWait(absl::string_view sockstat) {
  for (absl::string_view line : absl::StrSplit(sockstat, '\n')) {
    if (!absl::ConsumePrefix(&line, "TCP: ")) continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      uint64_t value = 0;
      if (fields[i] == "tw") {
        if (!absl::SimpleAtoi(fields[i + 1], &value)) return std::nullopt;
        return value;
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace tcpq::bpf

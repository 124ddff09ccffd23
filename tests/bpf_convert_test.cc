// The histogram slot function the BPF program runs (bpf/tcpq.h, compiled here
// as C++ from the same source), the conversion of its slots to cumulative
// Prometheus buckets, TCP state names and the sockstat timewait parser.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "bpf/convert.h"
#include "bpf/tcpq.h"

namespace tcpq::bpf {
namespace {

// 2^k seconds in nanoseconds, rounded down (exact for k >= -9).
uint64_t FloorNs(int k) {
  return static_cast<uint64_t>(std::floor(std::ldexp(1e9, k)));
}

TEST(BpfHistogramSlotTest, SlotIsTheSmallestPowerOfTwoSecondsAtOrAbove) {
  EXPECT_EQ(tcpq_hist_slot(0), 0u);
  EXPECT_EQ(tcpq_hist_slot(1), 1u);  // 1 ns: (2^-30 s, 2^-29 s]
  for (int k = -29; k <= 33; ++k) {
    const uint32_t slot = static_cast<uint32_t>(k + 30);
    const uint64_t bound = FloorNs(k);
    // A duration at or just below 2^k s is in the slot whose bound is 2^k s,
    // one just above it in the next (the last slot takes everything above).
    EXPECT_EQ(tcpq_hist_slot(bound), slot) << "k=" << k;
    EXPECT_EQ(tcpq_hist_slot(bound - 1),
              bound - 1 > FloorNs(k - 1) ? slot : slot - 1)
        << "k=" << k;
    EXPECT_EQ(tcpq_hist_slot(bound + 1), std::min(slot + 1, 63u)) << "k=" << k;
  }
  EXPECT_EQ(tcpq_hist_slot(200'000'000), 28u);  // 0.2 s in (0.125, 0.25]
  EXPECT_EQ(tcpq_hist_slot(250'000'000), 28u);  // exactly 0.25 s
  EXPECT_EQ(tcpq_hist_slot(250'000'001), 29u);
  EXPECT_EQ(tcpq_hist_slot(std::numeric_limits<uint64_t>::max()), 63u);
}

TEST(BpfHistogramSlotTest, SlotIsMonotonic) {
  uint32_t previous = 0;
  for (uint64_t ns = 0; ns < 5000; ++ns) {
    const uint32_t slot = tcpq_hist_slot(ns);
    EXPECT_GE(slot, previous) << ns;
    previous = slot;
  }
}

TEST(BpfHistogramTest, EmptyHistogramHasEveryBucketAtZero) {
  const tcpq_hist hist{};
  const prometheus::ClientMetric::Histogram h = ToPrometheusHistogram(hist);
  ASSERT_EQ(h.bucket.size(), 34u);  // 2^-20 .. 2^12 seconds, then +Inf
  EXPECT_EQ(h.bucket.front().upper_bound, std::ldexp(1.0, -20));
  EXPECT_EQ(h.bucket[32].upper_bound, 4096.0);
  EXPECT_TRUE(std::isinf(h.bucket.back().upper_bound));
  for (const auto& bucket : h.bucket) EXPECT_EQ(bucket.cumulative_count, 0u);
  EXPECT_EQ(h.sample_count, 0u);
  EXPECT_EQ(h.sample_sum, 0.0);
}

TEST(BpfHistogramTest, SlotsBecomeCumulativeBucketsInSeconds) {
  tcpq_hist hist{};
  hist.slots[0] = 1;    // <= 2^-30 s: below the first bound, first bucket
  hist.slots[10] = 2;   // (2^-21, 2^-20] s: the first bucket
  hist.slots[11] = 3;   // (2^-20, 2^-19] s
  hist.slots[28] = 5;   // (0.125, 0.25] s
  hist.slots[42] = 7;   // (2048, 4096] s: the last finite bucket
  hist.slots[43] = 11;  // (4096, 8192] s: +Inf only
  hist.slots[63] = 13;  // clamped huge values: +Inf only
  hist.sum_ns = 1'500'000'000;
  const prometheus::ClientMetric::Histogram h = ToPrometheusHistogram(hist);
  ASSERT_EQ(h.bucket.size(), 34u);
  EXPECT_EQ(h.sample_count, 42u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 1.5);
  uint64_t previous = 0;
  for (size_t i = 0; i < h.bucket.size(); ++i) {
    const auto& bucket = h.bucket[i];
    if (i + 1 < h.bucket.size()) {
      EXPECT_EQ(bucket.upper_bound, std::ldexp(1.0, static_cast<int>(i) - 20));
    }
    EXPECT_GE(bucket.cumulative_count, previous) << "bucket " << i;
    previous = bucket.cumulative_count;
    const double le = bucket.upper_bound;
    uint64_t want = 0;
    if (le >= std::ldexp(1.0, -20)) want += 3;
    if (le >= std::ldexp(1.0, -19)) want += 3;
    if (le >= 0.25) want += 5;
    if (le >= 4096) want += 7;
    if (std::isinf(le)) want += 24;
    EXPECT_EQ(bucket.cumulative_count, want) << "le=" << le;
  }
  EXPECT_EQ(h.bucket.back().cumulative_count, h.sample_count);
}

TEST(BpfTcpStateTest, KernelNamesInLowerCase) {
  EXPECT_EQ(TcpStateName(TCPQ_TCP_ESTABLISHED), "established");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_SYN_SENT), "syn_sent");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_SYN_RECV), "syn_recv");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_FIN_WAIT1), "fin_wait1");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_FIN_WAIT2), "fin_wait2");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_TIME_WAIT), "time_wait");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_CLOSE), "close");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_CLOSE_WAIT), "close_wait");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_LAST_ACK), "last_ack");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_LISTEN), "listen");
  EXPECT_EQ(TcpStateName(TCPQ_TCP_CLOSING), "closing");
  EXPECT_EQ(TcpStateName(0), "");
  EXPECT_EQ(TcpStateName(12), "");  // NEW_SYN_RECV: not a full socket
}

TEST(BpfSockstatTest, ParsesTimeWaitOfTheTcpLine) {
  // Recorded from kernel 6.18.
  constexpr absl::string_view kSockstat =
      "sockets: used 11\n"
      "TCP: inuse 1 orphan 0 tw 70 alloc 7 mem 0\n"
      "UDP: inuse 0 mem 0\n"
      "UDPLITE: inuse 0\n"
      "RAW: inuse 0\n"
      "FRAG: inuse 0 memory 0\n";
  EXPECT_EQ(ParseSockstatTimeWait(kSockstat), 70u);
}

TEST(BpfSockstatTest, MissingOrMalformedIsNullopt) {
  EXPECT_EQ(ParseSockstatTimeWait(""), std::nullopt);
  EXPECT_EQ(ParseSockstatTimeWait("sockets: used 1\nUDP: inuse 0 mem 0\n"),
            std::nullopt);
  EXPECT_EQ(ParseSockstatTimeWait("TCP: inuse 1 orphan 0 alloc 7 mem 0\n"),
            std::nullopt);
  EXPECT_EQ(ParseSockstatTimeWait("TCP: inuse 1 orphan 0 tw x alloc 7\n"),
            std::nullopt);
  EXPECT_EQ(ParseSockstatTimeWait("TCP: inuse 1 orphan 0 tw"), std::nullopt);
  // TCP6 (sockstat6) is not the TCP line.
  EXPECT_EQ(ParseSockstatTimeWait("TCP6: inuse 1\n"), std::nullopt);
}

TEST(BpfPerCpuSumTest, EveryFieldOfTheNamespaceStatsIsSummed) {
  tcpq_netns_stats cpu0{}, cpu1{};
  for (int i = 0; i < TCPQ_STATES; ++i) {
    cpu0.sockets[i] = i;
    cpu1.sockets[i] = -2 * i;  // a socket left a state on another CPU
    cpu0.retransmits[i] = 10 + i;
    cpu1.retransmits[i] = 1;
  }
  for (int i = 0; i < TCPQ_COUNTERS; ++i) {
    cpu0.counters[i] = 1000 + i;
    cpu1.counters[i] = 7;
  }
  tcpq_netns_stats total{};
  AddCpu(total, cpu0);
  AddCpu(total, cpu1);
  for (int i = 0; i < TCPQ_STATES; ++i) {
    EXPECT_EQ(total.sockets[i], -i);
    EXPECT_EQ(total.retransmits[i], 11u + i);
  }
  for (int i = 0; i < TCPQ_COUNTERS; ++i) {
    EXPECT_EQ(total.counters[i], 1007u + i);
  }
}

}  // namespace
}  // namespace tcpq::bpf

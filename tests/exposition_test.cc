#include "exporter/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace tcpq {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

TEST(SerializeTextTest, GaugeCounterAndHistogramExactly) {
  MetricFamily gauge{
      "tcpq_listener_accept_queue_length", "Queued.", MetricType::Gauge, {}};
  ClientMetric g;
  g.label = {{"netns", "4026531833"}, {"addr", "::1"}, {"port", "80"}};
  g.gauge.value = 3;
  gauge.metric.push_back(g);

  MetricFamily counter{"tcpq_resets_total", "", MetricType::Counter, {}};
  ClientMetric c;
  c.counter.value = 0.25;
  counter.metric.push_back(c);

  MetricFamily histogram{
      "tcpq_connect_duration_seconds", "Connects.", MetricType::Histogram, {}};
  ClientMetric h;
  h.histogram.sample_count = 5;
  h.histogram.sample_sum = 4.8092e-05;
  h.histogram.bucket = {{.cumulative_count = 2, .upper_bound = 1e-05},
                        {.cumulative_count = 5, .upper_bound = 0.001}};
  histogram.metric.push_back(h);

  const std::string text =
      SerializeText(std::vector<MetricFamily>{gauge, counter, histogram});
  EXPECT_EQ(text,
            "# HELP tcpq_listener_accept_queue_length Queued.\n"
            "# TYPE tcpq_listener_accept_queue_length gauge\n"
            "tcpq_listener_accept_queue_length{netns=\"4026531833\","
            "addr=\"::1\",port=\"80\"} 3\n"
            "# TYPE tcpq_resets_total counter\n"
            "tcpq_resets_total 0.25\n"
            "# HELP tcpq_connect_duration_seconds Connects.\n"
            "# TYPE tcpq_connect_duration_seconds histogram\n"
            "tcpq_connect_duration_seconds_count 5\n"
            "tcpq_connect_duration_seconds_sum 4.8092e-05\n"
            "tcpq_connect_duration_seconds_bucket{le=\"1e-05\"} 2\n"
            "tcpq_connect_duration_seconds_bucket{le=\"0.001\"} 5\n"
            "tcpq_connect_duration_seconds_bucket{le=\"+Inf\"} 5\n");
}

TEST(SerializeTextTest, EscapesLabelValues) {
  MetricFamily family{"tcpq_netns_info", "", MetricType::Gauge, {}};
  ClientMetric m;
  m.label = {{"name", "a\\b\"c\nd"}};
  m.gauge.value = 1;
  family.metric.push_back(m);
  EXPECT_EQ(SerializeText(std::vector<MetricFamily>{family}),
            "# TYPE tcpq_netns_info gauge\n"
            "tcpq_netns_info{name=\"a\\\\b\\\"c\\nd\"} 1\n");
}

// A value drawn from the edge cases of number formatting, or at random over
// many magnitudes.
double RandomValue(std::mt19937_64& random) {
  static const double kEdges[] = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.0,
                                  0.1,
                                  1.0 / 3,
                                  9007199254740991.0,  // 2^53 - 1
                                  9007199254740992.0,  // 2^53
                                  9007199254740994.0,
                                  1e15,
                                  1e16,
                                  1e17,
                                  -1e17,
                                  1.5e300,
                                  5e-324,
                                  std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::quiet_NaN(),
                                  std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity()};
  std::uniform_int_distribution<int> pick(0, 3);
  switch (pick(random)) {
    case 0:
      return kEdges[random() % std::size(kEdges)];
    case 1:  // a count
      return static_cast<double>(random() % 100000000000ULL);
    default: {
      std::uniform_real_distribution<double> mantissa(-10, 10);
      std::uniform_int_distribution<int> exponent(-15, 20);
      return mantissa(random) * std::pow(10.0, exponent(random));
    }
  }
}

// Up to 5 families of random types, names, help, labels (with characters
// that need escaping), values and timestamps, `samples` samples each.
std::vector<MetricFamily> RandomFamilies(std::mt19937_64& random, int round,
                                         int samples) {
  const std::string label_chars = "ab:_.\\\"/ 9";
  const MetricType types[] = {MetricType::Counter, MetricType::Gauge,
                              MetricType::Untyped, MetricType::Summary,
                              MetricType::Histogram};
  std::vector<MetricFamily> families;
  for (int f = 0; f < static_cast<int>(random() % 6); ++f) {
    MetricFamily family;
    // absl::StrCat, not "literal" + std::to_string(): gcc 12 at -O3 warns
    // -Wrestrict on the inlined string concatenation (a false positive).
    family.name = absl::StrCat("tcpq_family_", f);
    family.help = random() % 2 ? "Help text, with punctuation." : "";
    family.type = types[random() % std::size(types)];
    for (int s = 0; s < samples; ++s) {
      ClientMetric m;
      for (int l = 0; l < static_cast<int>(random() % 3); ++l) {
        std::string value;
        for (int i = 0; i < static_cast<int>(random() % 6); ++i)
          value += label_chars[random() % label_chars.size()];
        m.label.push_back({absl::StrCat("l", l), value});
      }
      if (random() % 4 == 0) m.timestamp_ms = 1700000000000 + round;
      m.counter.value = RandomValue(random);
      m.gauge.value = RandomValue(random);
      m.untyped.value = RandomValue(random);
      m.summary.sample_count = random() % 1000;
      m.summary.sample_sum = RandomValue(random);
      m.summary.quantile = {{0.5, RandomValue(random)},
                            {0.99, RandomValue(random)}};
      m.histogram.sample_count = random() % 1000;
      m.histogram.sample_sum = RandomValue(random);
      double bound = 1e-6;
      for (int b = 0; b < static_cast<int>(random() % 4); ++b) {
        m.histogram.bucket.push_back(
            {.cumulative_count = random() % 1000, .upper_bound = bound});
        bound *= 7.5;
      }
      if (random() % 3 == 0) {
        m.histogram.bucket.push_back(
            {.cumulative_count = m.histogram.sample_count,
             .upper_bound = std::numeric_limits<double>::infinity()});
      }
      family.metric.push_back(m);
    }
    families.push_back(family);
  }
  return families;
}

// prometheus-cpp's TextSerializer is the reference for every byte, except
// for a newline in a label value (it writes a backslash and the newline
// itself; EscapesLabelValues covers that), which this avoids.
// TwoThreadSerializer too: wherever it cuts, the same bytes (these small
// texts are cut only when told to cut any size).
TEST(SerializeTextTest, SameBytesAsPrometheusCppOnRandomFamilies) {
  TwoThreadSerializer by_size, always_split(/*split_from=*/0);
  std::mt19937_64 random(20261123);
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    const std::vector<MetricFamily> families =
        RandomFamilies(random, round, /*samples=*/4);
    const std::string expected =
        prometheus::TextSerializer().Serialize(families);
    ASSERT_EQ(SerializeText(families), expected) << "round " << round;
    ASSERT_EQ(by_size.Serialize(families), expected) << "round " << round;
    ASSERT_EQ(always_split.Serialize(families), expected) << "round " << round;
  }
  EXPECT_EQ(by_size.SplitWritesForTest(), 0);
  EXPECT_EQ(always_split.SplitWritesForTest(), kRounds);
}

// By default a text is cut from 512 KiB on.
TEST(SerializeTextTest, LargeTextsAreWrittenOnTwoThreads) {
  TwoThreadSerializer two_threads;
  std::mt19937_64 random(20261130);
  int large = 0;
  for (int round = 0; round < 12; ++round) {
    const std::vector<MetricFamily> families =
        RandomFamilies(random, round, /*samples=*/6000);
    const std::string expected =
        prometheus::TextSerializer().Serialize(families);
    if (expected.size() >= 600 * 1024) ++large;
    ASSERT_EQ(two_threads.Serialize(families), expected) << "round " << round;
  }
  ASSERT_GE(large, 4);
  EXPECT_GE(two_threads.SplitWritesForTest(), large);
}

}  // namespace
}  // namespace tcpq

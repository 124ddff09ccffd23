// The exposition text of one scrape of 100 namespaces, written by
// SerializeText (exporter/exposition.h) and by prometheus-cpp's
// TextSerializer, which it replaced.
//   build/bench/exposition_bench [--benchmark_filter=Gzip]

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "exporter/exposition.h"
#include "exporter/scrape_text.h"
#include "procfs/job_thread.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr int kListenersPerNamespace = 10;

MetricFamily Family(std::string name, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help =
      "Help text as long as the exporter's, which say what the kernel "
      "counts and where it comes from.";
  family.type = type;
  return family;
}

ClientMetric Sample(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  metric.gauge.value = value;
  return metric;
}

std::string Netns(int n) { return absl::StrCat(4026532000 + n); }

// Shaped like the scrape bench/netns_scale_bench.py makes (100 namespaces x
// 10 listeners, 11,258 series there; fewer namespaces: smaller): per namespace,
// one family per metric with a sample per namespace: 44 netstat, snmp and
// sysctl series, 1 info, 23 BPF (10 socket states, 7 retransmit states, 6
// connect and reset counters); 4 series per listener; 10 node-wide histograms
// (as for the 9 states and the connect duration: 33 bounds, +Inf, _sum,
// _count).
std::vector<MetricFamily> ScrapeOf(int namespaces) {
  std::vector<MetricFamily> families;
  for (int field = 0; field < 44; ++field) {
    MetricFamily family =
        Family(absl::StrCat("tcpq_netstat_some_kernel_field_", field, "_total"),
               MetricType::Counter);
    for (int n = 0; n < namespaces; ++n) {
      family.metric.push_back(
          Sample({{"netns", Netns(n)}}, 1234567.0 * (field + 1) + n));
    }
    families.push_back(std::move(family));
  }
  MetricFamily info = Family("tcpq_netns_info", MetricType::Gauge);
  for (int n = 0; n < namespaces; ++n) {
    info.metric.push_back(
        Sample({{"netns", Netns(n)},
                {"name", absl::StrCat("tcpq-bench-", n)},
                {"pod_uid", "3f7d1c2a-1b2c-4d5e-8f90-123456789abc"}},
               1));
  }
  families.push_back(std::move(info));
  struct PerNamespace {
    const char* name;
    const char* label;
    int values;
  };
  for (const PerNamespace& bpf :
       {PerNamespace{"tcpq_sockets", "state", 10},
        PerNamespace{"tcpq_retransmits_total", "state", 7},
        PerNamespace{"tcpq_connection_events_total", "event", 6}}) {
    MetricFamily family = Family(bpf.name, MetricType::Gauge);
    for (int n = 0; n < namespaces; ++n) {
      for (int value = 0; value < bpf.values; ++value) {
        family.metric.push_back(Sample(
            {{"netns", Netns(n)}, {bpf.label, absl::StrCat("value_", value)}},
            value * 17.0));
      }
    }
    families.push_back(std::move(family));
  }
  for (const char* name :
       {"tcpq_listener_sockets", "tcpq_listener_accept_queue_length",
        "tcpq_listener_accept_queue_limit", "tcpq_listener_drops_total"}) {
    MetricFamily family = Family(name, MetricType::Gauge);
    for (int n = 0; n < namespaces; ++n) {
      for (int l = 0; l < kListenersPerNamespace; ++l) {
        family.metric.push_back(Sample({{"netns", Netns(n)},
                                        {"addr", absl::StrCat("10.0.0.", l)},
                                        {"port", absl::StrCat(8000 + l)}},
                                       4096));
      }
    }
    families.push_back(std::move(family));
  }
  MetricFamily histogram =
      Family("tcpq_state_duration_seconds", MetricType::Histogram);
  for (int state = 0; state < 10; ++state) {
    ClientMetric metric = Sample({{"state", absl::StrCat("value_", state)}}, 0);
    uint64_t count = 0;
    for (int log2 = -20; log2 <= 12; ++log2) {
      count += 37;
      metric.histogram.bucket.push_back(
          {.cumulative_count = count, .upper_bound = std::ldexp(1.0, log2)});
    }
    metric.histogram.sample_count = count;
    metric.histogram.sample_sum = 1234.567891;
    histogram.metric.push_back(std::move(metric));
  }
  families.push_back(std::move(histogram));
  return families;
}

size_t SeriesCount(const std::vector<MetricFamily>& families) {
  size_t series = 0;
  for (const MetricFamily& family : families) {
    for (const ClientMetric& metric : family.metric) {
      // Buckets, +Inf, _sum and _count.
      series += family.type == MetricType::Histogram
                    ? metric.histogram.bucket.size() + 3
                    : 1;
    }
  }
  return series;
}

// Range 0: the number of namespaces.
template <typename Serialize>
void Run(benchmark::State& state, Serialize serialize) {
  const std::vector<MetricFamily> families =
      ScrapeOf(static_cast<int>(state.range(0)));
  // Both write the same bytes (tests/exposition_test.cc); a benchmark of
  // different output would compare nothing.
  if (tcpq::SerializeText(families) !=
      prometheus::TextSerializer().Serialize(families)) {
    state.SkipWithError("SerializeText and TextSerializer differ");
    return;
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = serialize(families);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["series"] = static_cast<double>(SeriesCount(families));
  state.counters["text_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * state.iterations()));
}

// Range 0 of the serializers: scrapes of 100 namespaces (811 KB of text) down
// to 3 (58 KB).
void ByNamespaces(benchmark::internal::Benchmark* benchmark) {
  for (int namespaces : {100, 70, 50, 30, 10, 3}) benchmark->Arg(namespaces);
}

void BM_SerializeText(benchmark::State& state) {
  Run(state, [](const std::vector<MetricFamily>& families) {
    return tcpq::SerializeText(families);
  });
}
BENCHMARK(BM_SerializeText)->Apply(ByNamespaces)->Unit(benchmark::kMillisecond);

// The same text written by two threads whatever its size, to compare with
// one: what the exporter runs from TwoThreadSerializer::kSplitFrom on. Wall
// time is what a scrape waits for (CPU time counts the caller's thread
// only).
void BM_TwoThreadSerializer(benchmark::State& state) {
  tcpq::TwoThreadSerializer serializer(/*split_from=*/0);
  Run(state, [&serializer](const std::vector<MetricFamily>& families) {
    return serializer.Serialize(families);
  });
}
BENCHMARK(BM_TwoThreadSerializer)
    ->Apply(ByNamespaces)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The gzip a scrape asking for it gets, made once per collection
// (exporter/scrape_text.h): the first KiB of the same text (range 0; 0: all
// of it, 792 KiB), compressed on one thread, or the second half on another
// (range 1), as a collection's own compression does from 256 KiB on.
void BM_GzipEncode(benchmark::State& state) {
  std::string text = tcpq::SerializeText(ScrapeOf(100));
  if (state.range(0) != 0) text.resize(state.range(0) * 1024);
  tcpq::procfs::JobThread helper;
  size_t compressed = 0;
  for (auto _ : state) {
    absl::StatusOr<std::string> gzip =
        tcpq::GzipEncode(text, state.range(1) != 0 ? &helper : nullptr);
    compressed = gzip->size();
    benchmark::DoNotOptimize(gzip);
  }
  state.counters["text_bytes"] = static_cast<double>(text.size());
  state.counters["gzip_bytes"] = static_cast<double>(compressed);
  state.SetBytesProcessed(
      static_cast<int64_t>(text.size() * state.iterations()));
}
BENCHMARK(BM_GzipEncode)
    ->ArgsProduct({{48, 128, 256, 0}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

void BM_PrometheusCppTextSerializer(benchmark::State& state) {
  Run(state, [](const std::vector<MetricFamily>& families) {
    return prometheus::TextSerializer().Serialize(families);
  });
}
BENCHMARK(BM_PrometheusCppTextSerializer)
    ->Arg(100)
    ->Unit(benchmark::kMillisecond);

}  // namespace

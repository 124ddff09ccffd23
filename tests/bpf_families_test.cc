// The bpf collector's metric families, from map values to series: every
// counter of TCPQ_COUNTER_LIST is exported, with its own value, labels and
// hook, so a counter added to the list cannot be left out.

#include "exporter/collectors/bpf_families.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "bpf/tcpq.h"

namespace tcpq::bpf_families {
namespace {

// (metric, labels) -> value of every sample in `families`.
using Samples = std::map<std::pair<std::string, Labels>, double>;

Samples SamplesOf(MetricSet& set) {
  Samples samples;
  for (const prometheus::MetricFamily& family : set.Take()) {
    for (const prometheus::ClientMetric& metric : family.metric) {
      Labels labels;
      for (const auto& label : metric.label) {
        labels.emplace_back(label.name, label.value);
      }
      samples[{family.name, labels}] =
          family.type == prometheus::MetricType::Counter ? metric.counter.value
                                                         : metric.gauge.value;
    }
  }
  return samples;
}

struct ListedCounter {
  int hook;
  std::string metric;
  std::string label;
  std::string value;
};

const std::vector<ListedCounter>& Listed() {
  static const auto* listed = new std::vector<ListedCounter>{
#define TCPQ_LISTED(id, hook, metric, label, value, help) \
  {TCPQ_HOOK_##hook, metric, label, value},
      TCPQ_COUNTER_LIST(TCPQ_LISTED)
#undef TCPQ_LISTED
  };
  return *listed;
}

Attached AllAttached() {
  Attached attached;
  attached.fill(true);
  return attached;
}

TEST(BpfFamiliesTest, EveryListedCounterIsExportedWithItsOwnValue) {
  tcpq_netns_stats stats{};
  for (int i = 0; i < TCPQ_COUNTERS; ++i) stats.counters[i] = 100 + i;
  MetricSet out;
  AddCounters("4026531840", stats, AllAttached(), out);
  const Samples samples = SamplesOf(out);

  ASSERT_EQ(Listed().size(), static_cast<size_t>(TCPQ_COUNTERS));
  Samples expected;
  for (int i = 0; i < TCPQ_COUNTERS; ++i) {
    Labels labels = {{"netns", "4026531840"}};
    if (!Listed()[i].label.empty()) {
      labels.emplace_back(Listed()[i].label, Listed()[i].value);
    }
    expected[{Listed()[i].metric, labels}] = 100 + i;
  }
  EXPECT_EQ(samples, expected);
}

TEST(BpfFamiliesTest, TheSpecsCountersAreInTheList) {
  std::set<std::pair<std::string, std::string>> series;
  for (const ListedCounter& c : Listed()) series.emplace(c.metric, c.value);
  EXPECT_EQ(series, (std::set<std::pair<std::string, std::string>>{
                        {"tcpq_connect_attempts_total", ""},
                        {"tcpq_connections_opened_total", "active"},
                        {"tcpq_connections_opened_total", "passive"},
                        {"tcpq_connect_failures_total", ""},
                        {"tcpq_resets_total", "sent"},
                        {"tcpq_resets_total", "received"}}));
}

TEST(BpfFamiliesTest, ACounterOfAHookNotAttachedIsAbsentNotZero) {
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    Attached attached = AllAttached();
    attached[hook] = false;
    MetricSet out;
    AddCounters("1", tcpq_netns_stats{}, attached, out);
    size_t expected = 0;
    for (const ListedCounter& c : Listed()) expected += c.hook != hook;
    EXPECT_EQ(SamplesOf(out).size(), expected) << "hook " << hook;
  }
}

TEST(BpfFamiliesTest, SocketGaugesTakeTimeWaitFromSockstat) {
  tcpq_netns_stats stats{};
  stats.sockets[TCPQ_TCP_ESTABLISHED] = 3;
  stats.sockets[TCPQ_TCP_LISTEN] = 2;
  stats.sockets[TCPQ_TCP_TIME_WAIT] = 99;  // not kept by BPF: ignored
  MetricSet with_tw;
  AddSocketGauges("1", stats, 7, with_tw);
  const Samples samples = SamplesOf(with_tw);
  EXPECT_EQ(samples.size(), 10u);  // every state but CLOSE
  EXPECT_EQ(
      samples.at({"tcpq_sockets", {{"netns", "1"}, {"state", "established"}}}),
      3);
  EXPECT_EQ(samples.at({"tcpq_sockets", {{"netns", "1"}, {"state", "listen"}}}),
            2);
  EXPECT_EQ(
      samples.at({"tcpq_sockets", {{"netns", "1"}, {"state", "time_wait"}}}),
      7);
  MetricSet without_tw;
  AddSocketGauges("1", stats, std::nullopt, without_tw);
  EXPECT_EQ(
      SamplesOf(without_tw)
          .count({"tcpq_sockets", {{"netns", "1"}, {"state", "time_wait"}}}),
      0u);
}

TEST(BpfFamiliesTest, ProgramsAndMapsAreNamedInListOrder) {
  Attached attached{};
  attached[TCPQ_HOOK_ITER_TCP] = true;
  MetricSet out;
  AddProgramAttached(attached, out);
  AddMapFailures({1, 2, 3, 4}, out);
  const Samples samples = SamplesOf(out);
  EXPECT_EQ(
      samples.at({"tcpq_bpf_program_attached", {{"program", "iter_tcp"}}}), 1);
  EXPECT_EQ(samples.at({"tcpq_bpf_program_attached",
                        {{"program", "inet_sock_set_state"}}}),
            0);
  EXPECT_EQ(samples.at({"tcpq_bpf_map_update_failures_total",
                        {{"map", "synack_retransmits"}}}),
            2);
  EXPECT_EQ(samples.size(), size_t{TCPQ_HOOKS} + size_t{TCPQ_MAPS});
}

}  // namespace
}  // namespace tcpq::bpf_families

#include "exporter/collectors/bpf_families.h"

#include "absl/strings/str_cat.h"
#include "bpf/convert.h"
#include "bpf/loader.h"

namespace tcpq::bpf_families {
namespace {

// tcpq_sockets states. CLOSE is not counted: a closed socket is unhashed and
// about to be freed (ss does not list it either).
constexpr uint32_t kGaugeStates[] = {TCPQ_TCP_ESTABLISHED, TCPQ_TCP_SYN_SENT,
                                     TCPQ_TCP_SYN_RECV,    TCPQ_TCP_FIN_WAIT1,
                                     TCPQ_TCP_FIN_WAIT2,   TCPQ_TCP_TIME_WAIT,
                                     TCPQ_TCP_CLOSE_WAIT,  TCPQ_TCP_LAST_ACK,
                                     TCPQ_TCP_LISTEN,      TCPQ_TCP_CLOSING};
// States a socket can retransmit in: always exported (others if non-zero).
constexpr uint32_t kRetransmitStates[] = {
    TCPQ_TCP_ESTABLISHED, TCPQ_TCP_SYN_SENT,   TCPQ_TCP_SYN_RECV,
    TCPQ_TCP_FIN_WAIT1,   TCPQ_TCP_CLOSE_WAIT, TCPQ_TCP_LAST_ACK,
    TCPQ_TCP_CLOSING};
// States a full socket is seen to leave (others exported if non-empty).
constexpr uint32_t kDurationStates[] = {
    TCPQ_TCP_ESTABLISHED, TCPQ_TCP_SYN_SENT,  TCPQ_TCP_SYN_RECV,
    TCPQ_TCP_FIN_WAIT1,   TCPQ_TCP_FIN_WAIT2, TCPQ_TCP_CLOSE_WAIT,
    TCPQ_TCP_LAST_ACK,    TCPQ_TCP_LISTEN,    TCPQ_TCP_CLOSING};

template <typename T, size_t N>
bool Contains(const T (&array)[N], const T& value) {
  for (const T& element : array) {
    if (element == value) return true;
  }
  return false;
}

std::string StateName(uint32_t state) {
  return std::string(bpf::TcpStateName(state));
}

struct CounterSeries {
  int hook;
  const char* metric;
  const char* label;
  const char* value;
  const char* help;
};

constexpr CounterSeries kCounters[TCPQ_COUNTERS] = {
#define TCPQ_COUNTER_SERIES(id, hook, metric, label, value, help) \
  {TCPQ_HOOK_##hook, metric, label, value, help},
    TCPQ_COUNTER_LIST(TCPQ_COUNTER_SERIES)
#undef TCPQ_COUNTER_SERIES
};

}  // namespace

void AddProgramAttached(const Attached& attached, MetricSet& out) {
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    out.Gauge("tcpq_bpf_program_attached",
              "1 if the BPF program of this tracepoint (iter_tcp: the walk "
              "that seeds tcpq_sockets) is attached, 0 if not.",
              {{"program", std::string(bpf::HookName(hook))}},
              attached[hook] ? 1 : 0);
  }
}

void AddMapFailures(const std::array<uint64_t, TCPQ_MAPS>& failures,
                    MetricSet& out) {
  for (int map = 0; map < TCPQ_MAPS; ++map) {
    out.Counter("tcpq_bpf_map_update_failures_total",
                "Inserts into a bounded BPF map that failed (map full or "
                "no memory): events that could not be counted.",
                {{"map", std::string(bpf::MapName(map))}},
                static_cast<double>(failures[map]));
  }
}

void AddSocketGauges(const std::string& netns, const tcpq_netns_stats& stats,
                     std::optional<uint64_t> time_wait, MetricSet& out) {
  for (uint32_t state : kGaugeStates) {
    if (state == TCPQ_TCP_TIME_WAIT && !time_wait.has_value()) continue;
    const double value = state == TCPQ_TCP_TIME_WAIT
                             ? static_cast<double>(*time_wait)
                             : static_cast<double>(stats.sockets[state]);
    out.Gauge("tcpq_sockets",
              "TCP sockets in this state, kept in the kernel on every "
              "transition (seeded from a walk of the sockets at start). "
              "time_wait counts every timewait socket (sockstat tw); "
              "syn_recv counts full sockets only, not half-open "
              "requests.",
              {{"netns", netns}, {"state", StateName(state)}}, value);
  }
}

void AddCounters(const std::string& netns, const tcpq_netns_stats& stats,
                 const Attached& attached, MetricSet& out) {
  for (int counter = 0; counter < TCPQ_COUNTERS; ++counter) {
    const CounterSeries& series = kCounters[counter];
    if (!attached[series.hook]) continue;
    Labels labels = {{"netns", netns}};
    if (series.label[0] != '\0')
      labels.emplace_back(series.label, series.value);
    out.Counter(series.metric, series.help, labels,
                static_cast<double>(stats.counters[counter]));
  }
}

void AddRetransmits(const std::string& netns, const tcpq_netns_stats& stats,
                    MetricSet& out) {
  for (uint32_t state = 1; state < TCPQ_STATES; ++state) {
    if (!Contains(kRetransmitStates, state) && stats.retransmits[state] == 0) {
      continue;
    }
    out.Counter("tcpq_retransmits_total",
                "Retransmissions (tcp:tcp_retransmit_skb; one may carry "
                "several segments), by the socket's state (syn_sent: SYN "
                "retries).",
                {{"netns", netns}, {"state", StateName(state)}},
                static_cast<double>(stats.retransmits[state]));
  }
}

void AddSynackRetransmits(const tcpq_synack_key& key, uint64_t retransmits,
                          MetricSet& out) {
  out.Counter(
      "tcpq_listener_synack_retransmits_total",
      "SYN-ACKs retransmitted by listeners on this port "
      "(tcp:tcp_retransmit_synack).",
      {{"netns", absl::StrCat(key.netns)}, {"port", absl::StrCat(key.port)}},
      static_cast<double>(retransmits));
}

bool HistogramAlwaysExported(uint32_t index) {
  return index == TCPQ_HIST_CONNECT || Contains(kDurationStates, index);
}

void AddHistogram(uint32_t index, const tcpq_hist& hist, const Labels& labels,
                  MetricSet& out) {
  prometheus::ClientMetric metric;
  for (const auto& [name, value] : labels) {
    metric.label.push_back(MakeLabel(name, value));
  }
  metric.histogram = bpf::ToPrometheusHistogram(hist);
  if (index == TCPQ_HIST_CONNECT) {
    out.Family("tcpq_connect_duration_seconds",
               "Time from connect() to ESTABLISHED (SYN_SENT -> "
               "ESTABLISHED) of connections that succeeded.",
               prometheus::MetricType::Histogram)
        .metric.push_back(std::move(metric));
    return;
  }
  metric.label.push_back(MakeLabel("state", StateName(index)));
  out.Family("tcpq_state_duration_seconds",
             "Time TCP sockets spent in a state, observed when they leave "
             "it (sockets already in a state when the exporter started are "
             "not observed for that state).",
             prometheus::MetricType::Histogram)
      .metric.push_back(std::move(metric));
}

}  // namespace tcpq::bpf_families

#pragma once

// The metric families of the bpf collector, one function each: what the BPF
// maps hold (bpf/tcpq.h, summed over the CPUs) turned into series. Pure, so
// tests check every family without loading BPF.

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "bpf/tcpq.h"
#include "exporter/metrics.h"

namespace tcpq::bpf_families {

// Whether each hook's program is attached, indexed by TCPQ_HOOK_*.
using Attached = std::array<bool, TCPQ_HOOKS>;

// tcpq_bpf_program_attached{program}.
void AddProgramAttached(const Attached& attached, MetricSet& out);

// tcpq_bpf_map_update_failures_total{map}, indexed by TCPQ_MAP_*.
void AddMapFailures(const std::array<uint64_t, TCPQ_MAPS>& failures,
                    MetricSet& out);

// tcpq_sockets{netns,state} for every countable state. `time_wait` comes from
// the namespace's sockstat (timewait sockets are not full sockets); when it
// is unknown that one series is omitted.
void AddSocketGauges(const std::string& netns, const tcpq_netns_stats& stats,
                     std::optional<uint64_t> time_wait, MetricSet& out);

// One series per TCPQ_COUNTER_LIST entry whose hook is attached.
void AddCounters(const std::string& netns, const tcpq_netns_stats& stats,
                 const Attached& attached, MetricSet& out);

// tcpq_retransmits_total{netns,state}: the states a socket retransmits in,
// others only if non-zero.
void AddRetransmits(const std::string& netns, const tcpq_netns_stats& stats,
                    MetricSet& out);

// tcpq_listener_synack_retransmits_total{netns,port}.
void AddSynackRetransmits(const tcpq_synack_key& key, uint64_t retransmits,
                          MetricSet& out);

// One series of tcpq_state_duration_seconds (index: a TCP state) or
// tcpq_connect_duration_seconds (TCPQ_HIST_CONNECT), with `labels` (netns,
// or none) before the state. A node-wide histogram of a state no full
// socket is seen to leave is omitted while empty; per-namespace ones exist
// only once observed.
void AddHistogram(uint32_t index, const tcpq_hist& hist, const Labels& labels,
                  MetricSet& out);

// True when a TCP state or the connect histogram is exported even when empty.
bool HistogramAlwaysExported(uint32_t index);

}  // namespace tcpq::bpf_families

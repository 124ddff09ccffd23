// bpf: TCP events counted in the kernel by the programs of bpf/tcpq.bpf.c
// (state transitions, retransmits, SYN-ACK retransmits, resets), aggregated
// per namespace in BPF maps and read here at scrape time: O(map entries),
// never O(sockets).
//
// The programs are loaded and attached once, when the collector is created.
// If that fails (no BTF, no privilege, no BPF) every scrape reports the
// collector as failed with the reason (logged once, by the scraper); the
// other collectors are not affected. A hook that does not attach disables
// only its own metrics.
//
// tcpq_sockets is kept in the kernel on every transition and seeded once per
// namespace (on the first scrape that sees it) by an iter/tcp walk run
// inside that namespace. The walk runs after the programs are attached and
// the two cannot count a socket twice: each counted socket carries its
// counted state in socket storage, the walk skips sockets that already have
// one, and a transition moves the count from the stored state to the new
// one (see bpf/tcpq.bpf.c). TIME_WAIT sockets are timewait minisocks, not
// full sockets: no tracepoint sees them expire, so their count comes from
// the namespace's /proc/net/sockstat ("tw"), O(1).
//
// The programs count every namespace; series are exported for the
// namespaces this scrape discovered (so --netns=host shows the host only),
// and map entries of a namespace gone for two scrapes are deleted.
//
// Test hooks (environment): TCPQ_BPF_NO_TP_BTF=1 attaches the raw_tp
// fallbacks only; TCPQ_BPF_BREAK_TP_BTF=hook[,hook] makes those tp_btf
// programs fail to load (so they fall back to raw_tp); TCPQ_BPF_SKIP=hook[,
// hook] treats those hooks as missing; TCPQ_BPF_MAX_NETNS=N bounds the
// per-namespace map to N entries.

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bpf/convert.h"
#include "bpf/loader.h"
#include "exporter/collectors/collectors.h"
#include "exporter/log.h"
#include "procfs/namespace_files.h"

ABSL_FLAG(bool, collector_bpf_histogram_netns, false,
          "Give tcpq_state_duration_seconds and tcpq_connect_duration_seconds "
          "a netns label: about 36 series per observed state and namespace "
          "instead of per node.");
ABSL_FLAG(bool, collector_bpf, true,
          "Enable the bpf collector: connects, connect failures, retransmits, "
          "SYN-ACK retransmits, resets, sockets per TCP state and time spent "
          "in each state, counted in the kernel by BPF programs (tp_btf "
          "tracepoints; needs BTF and CAP_BPF + CAP_PERFMON or root).");

namespace tcpq {
namespace {

using bpf::Attachment;
using bpf::Programs;

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

class BpfCollector : public Collector {
 public:
  BpfCollector(std::unique_ptr<Programs> programs, absl::Status load_error,
               bool histograms_by_netns)
      : programs_(std::move(programs)),
        load_error_(std::move(load_error)),
        histograms_by_netns_(histograms_by_netns) {}

  absl::Status Collect(const ScrapeContext& context, MetricSet& out) override {
    for (int hook = 0; hook < bpf::kHookCount; ++hook) {
      const bool attached =
          programs_ && programs_->attachment(hook) != Attachment::kNone;
      out.Gauge("tcpq_bpf_program_attached",
                "1 if the BPF program of this tracepoint (iter_tcp: the walk "
                "that seeds tcpq_sockets) is attached, 0 if not.",
                {{"program", std::string(bpf::HookName(hook))}},
                attached ? 1 : 0);
    }
    if (!programs_) return load_error_;
    if (!logged_attachments_) {
      LogAttachments();
      logged_attachments_ = true;
    }

    absl::Status first_error;
    auto note = [&first_error](const absl::Status& status) {
      if (!status.ok() && first_error.ok()) first_error = status;
    };

    absl::StatusOr<std::array<uint64_t, TCPQ_MAPS>> failures =
        programs_->ReadMapFailures();
    note(failures.status());
    if (failures.ok()) {
      for (int map = 0; map < TCPQ_MAPS; ++map) {
        out.Counter("tcpq_bpf_map_update_failures_total",
                    "Inserts into a bounded BPF map that failed (map full or "
                    "no memory): events that could not be counted.",
                    {{"map", std::string(bpf::MapName(map))}},
                    static_cast<double>((*failures)[map]));
      }
    }

    // Seed each namespace once; read its timewait count.
    absl::flat_hash_map<uint64_t, uint64_t> time_wait;
    if (programs_->can_seed()) {
      absl::flat_hash_set<uint64_t> seeded;
      note(ForEachNamespace(
          context, [&](const procfs::Netns& ns) -> absl::Status {
            const uint64_t inode = ns.identity.inode;
            if (!seeded_.contains(inode)) {
              absl::Status seed = programs_->SeedCallingThreadNetns();
              if (!seed.ok()) return seed;
            }
            seeded.insert(inode);
            return sockstat_.Read(
                inode, [&](size_t, absl::string_view text) -> absl::Status {
                  std::optional<uint64_t> tw = bpf::ParseSockstatTimeWait(text);
                  if (!tw) {
                    return absl::DataLossError(
                        "no TCP \"tw\" field in /proc/net/sockstat");
                  }
                  time_wait[inode] = *tw;
                  return absl::OkStatus();
                });
          }));
      // Forget namespaces no longer seen: seeding again is harmless.
      seeded_ = std::move(seeded);
      sockstat_.EndScrape();
    }

    absl::flat_hash_map<uint32_t, tcpq_netns_stats> stats;
    note(programs_->ReadNetnsStats(
        [&](uint32_t netns, const tcpq_netns_stats& s) { stats[netns] = s; }));

    absl::flat_hash_set<uint32_t> discovered;
    for (const procfs::Netns& ns : context.namespaces) {
      discovered.insert(static_cast<uint32_t>(ns.identity.inode));
      const std::string netns = NetnsLabel(ns);
      tcpq_netns_stats s{};
      if (auto it = stats.find(static_cast<uint32_t>(ns.identity.inode));
          it != stats.end()) {
        s = it->second;
      }
      AddNamespace(netns, s, time_wait, ns.identity.inode, out);
    }

    // Entries of a namespace that has not been discovered for two scrapes
    // in a row are deleted, so the maps hold live namespaces only (not after
    // one scrape: a namespace created during a scrape is only discovered by
    // the next). Never when discovery found nothing at all (it failed).
    const bool collect_garbage = !context.namespaces.empty();
    absl::flat_hash_set<uint32_t> missing;
    auto stale = [&](uint32_t netns) {
      missing.insert(netns);
      return collect_garbage && missing_last_scrape_.contains(netns);
    };
    for (const auto& [netns, s] : stats) {
      if (discovered.contains(netns) || !stale(netns)) continue;
      // A socket count not back to zero is kept: its sockets live on.
      bool has_sockets = false;
      for (int state = 0; state < TCPQ_STATES; ++state) {
        if (state != TCPQ_TCP_TIME_WAIT && s.sockets[state] != 0) {
          has_sockets = true;
        }
      }
      if (!has_sockets) note(programs_->DeleteNetnsStats(netns));
    }

    if (programs_->attachment(bpf::kRetransmitSynack) != Attachment::kNone) {
      std::vector<tcpq_synack_key> gone;
      note(programs_->ReadSynack(
          [&](const tcpq_synack_key& key, uint64_t count) {
            if (!discovered.contains(key.netns)) {
              if (stale(key.netns)) gone.push_back(key);
              return;
            }
            out.Counter("tcpq_listener_synack_retransmits_total",
                        "SYN-ACKs retransmitted by listeners on this port "
                        "(tcp:tcp_retransmit_synack).",
                        {{"netns", absl::StrCat(key.netns)},
                         {"port", absl::StrCat(key.port)}},
                        static_cast<double>(count));
          }));
      for (const tcpq_synack_key& key : gone) {
        note(programs_->DeleteSynack(key));
      }
    }

    if (programs_->has_socket_storage()) {
      if (histograms_by_netns_) {
        std::vector<tcpq_hist_key> gone;
        note(programs_->ReadNetnsHists(
            [&](const tcpq_hist_key& key, const tcpq_hist& hist) {
              if (!discovered.contains(key.netns)) {
                if (stale(key.netns)) gone.push_back(key);
                return;
              }
              AddHistogram(out, key.index, hist,
                           {{"netns", absl::StrCat(key.netns)}});
            }));
        for (const tcpq_hist_key& key : gone) {
          note(programs_->DeleteNetnsHist(key));
        }
      } else {
        for (uint32_t index = 1; index < TCPQ_HISTS; ++index) {
          tcpq_hist hist;
          absl::Status read = programs_->ReadHist(index, hist);
          note(read);
          if (!read.ok()) continue;
          // Every state a socket is seen to leave, even when empty; others
          // (not expected) only if something was observed.
          if (index != TCPQ_HIST_CONNECT && !Contains(kDurationStates, index) &&
              HistCount(hist) == 0) {
            continue;
          }
          AddHistogram(out, index, hist, {});
        }
      }
    }
    if (collect_garbage) missing_last_scrape_ = std::move(missing);
    return first_error;
  }

 private:
  // One line naming how each hook is attached, a warning when one is not
  // (its metrics are absent; tcpq_bpf_program_attached says which). Logged
  // on the first scrape, not at creation: a bad flag of a later collector
  // must stay the only line on stderr.
  void LogAttachments() const {
    log::Fields fields;
    bool all = true;
    for (int hook = 0; hook < bpf::kHookCount; ++hook) {
      const Attachment attachment = programs_->attachment(hook);
      all = all && attachment != Attachment::kNone;
      fields.emplace_back(bpf::HookName(hook),
                          std::string(bpf::AttachmentName(attachment)));
    }
    log::Log(all ? log::Level::kInfo : log::Level::kWarn,
             all ? "bpf programs attached" : "some bpf programs not attached",
             fields);
  }

  void AddNamespace(const std::string& netns, const tcpq_netns_stats& s,
                    const absl::flat_hash_map<uint64_t, uint64_t>& time_wait,
                    uint64_t inode, MetricSet& out) {
    // Gauges of namespaces not seeded yet would count from zero: omitted.
    // A namespace whose sockstat could not be read lacks only time_wait.
    if (seeded_.contains(inode)) {
      const auto tw = time_wait.find(inode);
      for (uint32_t state : kGaugeStates) {
        if (state == TCPQ_TCP_TIME_WAIT && tw == time_wait.end()) continue;
        const double value = state == TCPQ_TCP_TIME_WAIT
                                 ? static_cast<double>(tw->second)
                                 : static_cast<double>(s.sockets[state]);
        out.Gauge("tcpq_sockets",
                  "TCP sockets in this state, kept in the kernel on every "
                  "transition (seeded from a walk of the sockets at start). "
                  "time_wait counts every timewait socket (sockstat tw); "
                  "syn_recv counts full sockets only, not half-open "
                  "requests.",
                  {{"netns", netns}, {"state", StateName(state)}}, value);
      }
    }
    if (programs_->attachment(bpf::kSetState) != Attachment::kNone) {
      out.Counter("tcpq_connect_attempts_total",
                  "Outgoing connection attempts (CLOSE -> SYN_SENT).",
                  {{"netns", netns}}, static_cast<double>(s.connect_attempts));
      const char* kOpenedHelp =
          "Connections established: active (SYN_SENT -> ESTABLISHED, "
          "connect()) or passive (SYN_RECV -> ESTABLISHED, accepted by a "
          "listener).";
      out.Counter("tcpq_connections_opened_total", kOpenedHelp,
                  {{"netns", netns}, {"direction", "active"}},
                  static_cast<double>(s.opened_active));
      out.Counter("tcpq_connections_opened_total", kOpenedHelp,
                  {{"netns", netns}, {"direction", "passive"}},
                  static_cast<double>(s.opened_passive));
      out.Counter("tcpq_connect_failures_total",
                  "Outgoing connection attempts that failed (SYN_SENT -> "
                  "CLOSE: refused, timed out, reset).",
                  {{"netns", netns}}, static_cast<double>(s.connect_failures));
    }
    if (programs_->attachment(bpf::kRetransmitSkb) != Attachment::kNone) {
      for (uint32_t state = 1; state < TCPQ_STATES; ++state) {
        if (!Contains(kRetransmitStates, state) && s.retransmits[state] == 0) {
          continue;
        }
        out.Counter("tcpq_retransmits_total",
                    "Retransmissions (tcp:tcp_retransmit_skb; one may carry "
                    "several segments), by the socket's state (syn_sent: SYN "
                    "retries).",
                    {{"netns", netns}, {"state", StateName(state)}},
                    static_cast<double>(s.retransmits[state]));
      }
    }
    const char* kResetsHelp =
        "TCP resets sent (tcp:tcp_send_reset) or received "
        "(tcp:tcp_receive_reset).";
    if (programs_->attachment(bpf::kSendReset) != Attachment::kNone) {
      out.Counter("tcpq_resets_total", kResetsHelp,
                  {{"netns", netns}, {"direction", "sent"}},
                  static_cast<double>(s.resets_sent));
    }
    if (programs_->attachment(bpf::kReceiveReset) != Attachment::kNone) {
      out.Counter("tcpq_resets_total", kResetsHelp,
                  {{"netns", netns}, {"direction", "received"}},
                  static_cast<double>(s.resets_received));
    }
  }

  static uint64_t HistCount(const tcpq_hist& hist) {
    uint64_t count = 0;
    for (uint64_t slot : hist.slots) count += slot;
    return count;
  }

  // One histogram series: `index` is a TCP state (time spent in it) or
  // TCPQ_HIST_CONNECT; `labels` the netns label if any.
  static void AddHistogram(MetricSet& out, uint32_t index,
                           const tcpq_hist& hist, const Labels& labels) {
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

  const std::unique_ptr<Programs> programs_;  // null: BPF is off
  const absl::Status load_error_;             // why it is off
  const bool histograms_by_netns_;
  absl::flat_hash_set<uint64_t> seeded_;  // namespaces walked once
  // /proc/net/sockstat is a few hundred bytes.
  procfs::NamespaceFiles sockstat_{{"/proc/thread-self/net/sockstat"}, 4096};
  absl::flat_hash_set<uint32_t> missing_last_scrape_;
  bool logged_attachments_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Collector>> NewBpfCollector() {
  bpf::LoadOptions options;
  options.histograms_by_netns =
      absl::GetFlag(FLAGS_collector_bpf_histogram_netns);
  if (const char* no_btf = std::getenv("TCPQ_BPF_NO_TP_BTF");
      no_btf != nullptr && std::string(no_btf) == "1") {
    options.allow_tp_btf = false;
  }
  if (const char* skip = std::getenv("TCPQ_BPF_SKIP"); skip != nullptr) {
    options.skip = absl::StrSplit(skip, ',', absl::SkipEmpty());
  }
  if (const char* hooks = std::getenv("TCPQ_BPF_BREAK_TP_BTF");
      hooks != nullptr) {
    options.break_tp_btf = absl::StrSplit(hooks, ',', absl::SkipEmpty());
  }
  if (const char* max = std::getenv("TCPQ_BPF_MAX_NETNS"); max != nullptr) {
    if (!absl::SimpleAtoi(max, &options.max_netns)) options.max_netns = 0;
  }
  absl::StatusOr<std::unique_ptr<Programs>> programs = Programs::Load(options);
  if (!programs.ok()) {
    // Logged once by the scraper when the first scrape fails (never here:
    // a bad flag of a later collector must stay the only line on stderr).
    return std::make_unique<BpfCollector>(
        nullptr,
        absl::Status(
            programs.status().code(),
            absl::StrCat(
                "BPF is off: ", programs.status().message(),
                programs.status().code() == absl::StatusCode::kPermissionDenied
                    ? " (loading BPF needs CAP_BPF and CAP_PERFMON, or "
                      "CAP_SYS_ADMIN; podman's and Docker's default seccomp "
                      "profiles allow bpf() only with CAP_SYS_ADMIN)"
                    : "")),
        options.histograms_by_netns);
  }
  return std::make_unique<BpfCollector>(*std::move(programs), absl::OkStatus(),
                                        options.histograms_by_netns);
}

}  // namespace tcpq

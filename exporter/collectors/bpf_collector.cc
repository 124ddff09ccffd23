// bpf: TCP events counted in the kernel by the programs of bpf/tcpq.bpf.c
// (state transitions, retransmits, SYN-ACK retransmits, resets), aggregated
// per namespace in BPF maps and read here at scrape time: O(map entries),
// never O(sockets).
//
// The programs are loaded and attached once, when the collector is created
// (or GET /connections or the sockets collector needs them: they share one
// set, exporter/collectors/bpf_shared.h).
// If that fails (no BTF, no privilege, no BPF) every scrape reports the
// collector as failed with the reason (logged once, by the scraper); the
// other collectors are not affected. A hook that does not attach disables
// only its own metrics.
//
// tcpq_sockets is kept in the kernel on every transition and seeded once per
// namespace (on the first scrape that sees it) by an iter/tcp walk run
// inside that namespace (by whichever of this collector and the sockets
// collector visits it first). The walk runs after the programs are attached and
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
// Test seam (environment, read once at start by bpf_shared.cc; for
// tests/integration only):
// TCPQ_BPF_NO_TP_BTF=1 attaches the raw_tp fallbacks only;
// TCPQ_BPF_BREAK_TP_BTF=hook[,hook] makes those tp_btf programs fail to load
// (so they fall back to raw_tp); TCPQ_BPF_SKIP=hook[,hook] treats those hooks
// as missing; TCPQ_BPF_MAX_NETNS=N bounds the per-namespace map to N entries;
// TCPQ_BPF_WALK_READ_SIZE=N makes the sockets collector's walk write filler
// and read it N bytes at a time, so that the kernel stops and resumes it.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bpf/convert.h"
#include "bpf/loader.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/bpf_families.h"
#include "exporter/collectors/bpf_shared.h"
#include "exporter/log.h"
#include "procfs/namespace_files.h"

ABSL_FLAG(bool, collector_bpf_histogram_netns, false,
          "Give tcpq_state_duration_seconds and tcpq_connect_duration_seconds "
          "a netns label: about 36 series per observed state and namespace "
          "instead of per node.");

namespace tcpq {
namespace {

using bpf::Attachment;
using bpf::Programs;
using bpf_families::Attached;

// Remembers the first error of several steps.
class FirstError {
 public:
  void Note(const absl::Status& status) {
    if (!status.ok() && error_.ok()) error_ = status;
  }
  const absl::Status& status() const { return error_; }

 private:
  absl::Status error_;
};

class BpfCollector : public Collector {
 public:
  BpfCollector(SharedBpf& shared, bool histograms_by_netns)
      : shared_(shared),
        programs_(shared.programs()),
        histograms_by_netns_(histograms_by_netns) {}

  absl::Status ReadAllNamespaces(NodeSnapshot& snapshot) override {
    return shared_.ReadNetns(snapshot);
  }

  // Seeds the socket gauge of a namespace the first time it is seen (an
  // iter/tcp walk inside it) and reads its TIME_WAIT count: from its
  // /proc/net/sockstat the first time, then from the scrape's BPF pass.
  absl::Status CollectNamespace(NamespaceVisit& visit, MetricSet&) override {
    if (!programs_ || !programs_->can_seed()) return absl::OkStatus();
    if (absl::Status seed = shared_.SeedOnce(visit.inode()); !seed.ok()) {
      return seed;
    }
    std::optional<uint64_t> time_wait;
    absl::Status read;
    if (const tcpq_netns_record* record = visit.Record();
        record != nullptr && record->has_time_wait) {
      time_wait = record->time_wait;
    } else {
      read = sockstat_.Read(
          visit.inode(), [&](size_t, absl::string_view text) -> absl::Status {
            time_wait = bpf::ParseSockstatTimeWait(text);
            if (!time_wait) {
              return absl::DataLossError(
                  "no TCP \"tw\" field in /proc/net/sockstat");
            }
            return absl::OkStatus();
          });
      if (read.ok()) read = shared_.AnchorOnce(visit.inode());
    }
    absl::MutexLock lock(&mutex_);
    seeded_this_scrape_.insert(visit.inode());
    if (time_wait) time_wait_[visit.inode()] = *time_wait;
    return read;
  }

  // Reads the maps: every family, then the clean-up of namespaces gone.
  absl::Status CollectNode(const ScrapeContext& context,
                           MetricSet& out) override {
    bpf_families::AddProgramAttached(AttachedHooks(), out);
    if (!programs_) return shared_.load_error();
    LogAttachmentsOnce();
    FirstError error;
    Scrape scrape;
    for (const procfs::Netns& ns : context.namespaces) {
      scrape.discovered.insert(static_cast<uint32_t>(ns.identity.inode));
    }
    error.Note(AddMapFailures(out));
    error.Note(AddNamespaceFamilies(context, scrape, out));
    error.Note(AddSynackRetransmits(scrape, out));
    error.Note(AddHistograms(scrape, out));
    // A namespace discovery failed to find at all is not a namespace gone.
    if (!context.namespaces.empty()) {
      error.Note(ForgetVanishedNamespaces(scrape));
      shared_.Retain(context.namespaces);
    }
    EndScrape();
    return error.status();
  }

 private:
  // What one scrape read of the maps and found in them.
  struct Scrape {
    absl::flat_hash_set<uint32_t> discovered;  // this scrape's namespaces
    // Map entries of namespaces not discovered in this scrape.
    absl::flat_hash_set<uint32_t> undiscovered;
    std::vector<uint32_t> idle_stats;  // of those: netns_stats without sockets
    std::vector<tcpq_synack_key> synack_keys;
    std::vector<tcpq_hist_key> hist_keys;
  };

  Attached AttachedHooks() const {
    Attached attached{};
    for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
      attached[hook] =
          programs_ && programs_->attachment(hook) != Attachment::kNone;
    }
    return attached;
  }

  // One line naming how each hook is attached, a warning when one is not
  // (its metrics are absent; tcpq_bpf_program_attached says which). Logged
  // on the first scrape, not at creation: a bad flag of a later collector
  // must stay the only line on stderr.
  void LogAttachmentsOnce() {
    if (logged_attachments_) return;
    logged_attachments_ = true;
    log::Fields fields;
    bool all = true;
    for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
      const Attachment attachment = programs_->attachment(hook);
      all = all && attachment != Attachment::kNone;
      fields.emplace_back(bpf::HookName(hook),
                          std::string(bpf::AttachmentName(attachment)));
    }
    log::Log(all ? log::Level::kInfo : log::Level::kWarn,
             all ? "bpf programs attached" : "some bpf programs not attached",
             fields);
  }

  absl::Status AddMapFailures(MetricSet& out) {
    absl::StatusOr<std::array<uint64_t, TCPQ_MAPS>> failures =
        programs_->ReadMapFailures();
    if (failures.ok()) bpf_families::AddMapFailures(*failures, out);
    return failures.status();
  }

  // Per discovered namespace: the socket gauge, the event counters and the
  // retransmits. Gauges of a namespace not seeded yet would count from zero
  // and are omitted; a namespace whose sockstat could not be read lacks only
  // time_wait.
  absl::Status AddNamespaceFamilies(const ScrapeContext& context,
                                    Scrape& scrape, MetricSet& out) {
    absl::flat_hash_map<uint32_t, tcpq_netns_stats> stats;
    const absl::Status read = programs_->ReadNetnsStats(
        [&](uint32_t netns, const tcpq_netns_stats& s) {
          if (scrape.discovered.contains(netns)) {
            stats[netns] = s;
            return;
          }
          scrape.undiscovered.insert(netns);
          if (!HasLiveSockets(s)) scrape.idle_stats.push_back(netns);
        });
    const Attached attached = AttachedHooks();
    absl::MutexLock lock(&mutex_);
    for (const procfs::Netns& ns : context.namespaces) {
      const uint32_t inode = static_cast<uint32_t>(ns.identity.inode);
      const std::string netns = NetnsLabel(ns);
      const auto found = stats.find(inode);
      const tcpq_netns_stats s =
          found == stats.end() ? tcpq_netns_stats{} : found->second;
      if (seeded_this_scrape_.contains(ns.identity.inode)) {
        const auto tw = time_wait_.find(ns.identity.inode);
        bpf_families::AddSocketGauges(netns, s,
                                      tw == time_wait_.end()
                                          ? std::nullopt
                                          : std::optional<uint64_t>(tw->second),
                                      out);
      }
      bpf_families::AddCounters(netns, s, attached, out);
      if (attached[TCPQ_HOOK_RETRANSMIT_SKB]) {
        bpf_families::AddRetransmits(netns, s, out);
      }
    }
    return read;
  }

  // A socket count not back to zero keeps a namespace's entry: its sockets
  // live on (TIME_WAIT is not counted in the map).
  static bool HasLiveSockets(const tcpq_netns_stats& s) {
    for (int state = 0; state < TCPQ_STATES; ++state) {
      if (state != TCPQ_TCP_TIME_WAIT && s.sockets[state] != 0) return true;
    }
    return false;
  }

  absl::Status AddSynackRetransmits(Scrape& scrape, MetricSet& out) {
    if (programs_->attachment(TCPQ_HOOK_RETRANSMIT_SYNACK) ==
        Attachment::kNone) {
      return absl::OkStatus();
    }
    return programs_->ReadSynack(
        [&](const tcpq_synack_key& key, uint64_t retransmits) {
          if (scrape.discovered.contains(key.netns)) {
            bpf_families::AddSynackRetransmits(key, retransmits, out);
          } else {
            scrape.undiscovered.insert(key.netns);
            scrape.synack_keys.push_back(key);
          }
        });
  }

  absl::Status AddHistograms(Scrape& scrape, MetricSet& out) {
    if (!programs_->has_socket_storage()) return absl::OkStatus();
    if (histograms_by_netns_) {
      return programs_->ReadNetnsHists(
          [&](const tcpq_hist_key& key, const tcpq_hist& hist) {
            if (scrape.discovered.contains(key.netns)) {
              bpf_families::AddHistogram(
                  key.index, hist, {{"netns", absl::StrCat(key.netns)}}, out);
            } else {
              scrape.undiscovered.insert(key.netns);
              scrape.hist_keys.push_back(key);
            }
          });
    }
    FirstError error;
    for (uint32_t index = 1; index < TCPQ_HISTS; ++index) {
      tcpq_hist hist;
      const absl::Status read = programs_->ReadHist(index, hist);
      error.Note(read);
      if (!read.ok()) continue;
      if (!bpf_families::HistogramAlwaysExported(index) && IsEmpty(hist)) {
        continue;
      }
      bpf_families::AddHistogram(index, hist, {}, out);
    }
    return error.status();
  }

  static bool IsEmpty(const tcpq_hist& hist) {
    for (uint64_t slot : hist.slots) {
      if (slot != 0) return false;
    }
    return true;
  }

  // Deletes the map entries of namespaces not discovered for two scrapes in
  // a row, so the maps hold live namespaces only (not after one scrape: a
  // namespace created during a scrape is only discovered by the next).
  absl::Status ForgetVanishedNamespaces(const Scrape& scrape) {
    FirstError error;
    for (uint32_t netns : scrape.idle_stats) {
      if (missing_last_scrape_.contains(netns)) {
        error.Note(programs_->DeleteNetnsStats(netns));
      }
    }
    for (const tcpq_synack_key& key : scrape.synack_keys) {
      if (missing_last_scrape_.contains(key.netns)) {
        error.Note(programs_->DeleteSynack(key));
      }
    }
    for (const tcpq_hist_key& key : scrape.hist_keys) {
      if (missing_last_scrape_.contains(key.netns)) {
        error.Note(programs_->DeleteNetnsHist(key));
      }
    }
    missing_last_scrape_ = scrape.undiscovered;
    return error.status();
  }

  void EndScrape() {
    absl::MutexLock lock(&mutex_);
    seeded_this_scrape_.clear();
    time_wait_.clear();
    sockstat_.EndScrape();
  }

  SharedBpf& shared_;
  Programs* const
      programs_;  // null: BPF is off (shared_.load_error() says why)
  const bool histograms_by_netns_;
  // /proc/net/sockstat is a few hundred bytes.
  procfs::NamespaceFiles sockstat_{{"/proc/thread-self/net/sockstat"}, 4096};
  absl::Mutex mutex_;  // namespaces are visited concurrently
  absl::flat_hash_set<uint64_t> seeded_this_scrape_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<uint64_t, uint64_t> time_wait_ ABSL_GUARDED_BY(mutex_);
  // Touched by CollectNode only (one scrape at a time).
  absl::flat_hash_set<uint32_t> missing_last_scrape_;
  bool logged_attachments_ = false;
};

absl::StatusOr<std::unique_ptr<Collector>> NewBpfCollector() {
  return std::make_unique<BpfCollector>(
      SharedBpf::Get(), absl::GetFlag(FLAGS_collector_bpf_histogram_netns));
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(bpf, true,
               "Enable the bpf collector: connects, connect failures, "
               "retransmits, SYN-ACK retransmits, resets, sockets per TCP "
               "state and time spent in each state, counted in the kernel by "
               "BPF programs (tp_btf tracepoints; needs BTF and CAP_BPF + "
               "CAP_PERFMON or root).",
               tcpq::NewBpfCollector, "collector.bpf.histogram-netns");

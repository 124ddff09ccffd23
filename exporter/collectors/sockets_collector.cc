// sockets: a walk over every TCP socket of every namespace, off the scrape
// path: peers per listener, the oldest socket of each state, the oldest
// connection of each accept queue (exporter/socket_walk.h).
//
// One pass covers all namespaces: a BPF iterator over the socket storage map
// of the BPF programs (iter/bpf_sk_storage_map) visits every socket that has
// storage, whatever its namespace. iter/tcp and sock_diag only see the
// calling thread's namespace and walk the whole host table each time, so
// 100 namespaces would cost 100 walks. Storage exists for every full socket
// that changed state since the programs were attached and for every one the
// seeding walk found (iter/tcp, once per namespace, on the first scrape that
// visits it); timewait and request (SYN_RECV) sockets are not full sockets
// and have none, so the walk does not see them.
//
// The walk runs on a thread of its own, every --collector.sockets.interval,
// and sooner when a scrape's listener dump shows a non-empty accept queue the
// last pass did not see, or a namespace the last pass did not cover (at most
// one such early pass per kMinWakeGap, so a queue that stays non-empty does
// not make it spin). A scrape only copies the last completed pass out, and
// exports a namespace only once a pass started after its seeding walk.

#include <time.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bpf/convert.h"
#include "exporter/collector_registry.h"
#include "exporter/collectors/bpf_shared.h"
#include "exporter/log.h"
#include "exporter/socket_walk.h"

ABSL_FLAG(absl::Duration, collector_sockets_interval, absl::Seconds(15),
          "How often the sockets collector walks every socket (a duration, "
          "e.g. 15s); it also walks when an accept queue becomes non-empty.");
ABSL_FLAG(int32_t, collector_sockets_top_peers, 3,
          "Remote addresses exported per listener in "
          "tcpq_listener_top_peer_connections (0: none).");
ABSL_FLAG(int64_t, collector_sockets_peer_min_connections, 10,
          "Established connections a remote address must hold to a listener "
          "to be one of its top peers.");

namespace tcpq {
namespace {

// The shortest time between the starts of two passes when scrapes ask for
// one early: a pass costs up to tens of milliseconds of CPU.
constexpr absl::Duration kMinWakeGap = absl::Seconds(1);

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);  // user + system (the walk)
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// One completed pass.
struct Pass {
  socket_walk::Summary summary;
  // Namespaces seeded before the pass started: all their sockets were seen.
  absl::flat_hash_set<uint64_t> covered;
  double seconds = 0;
  double cpu_seconds = 0;
  absl::Time end;
};

class SocketsCollector : public Collector {
 public:
  SocketsCollector(SharedBpf& shared, absl::Duration interval,
                   socket_walk::Options options)
      : shared_(shared),
        interval_(interval),
        options_(options),
        started_(absl::Now()) {
    if (Runnable().ok()) walker_ = std::thread([this] { Loop(); });
  }

  ~SocketsCollector() override {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    if (walker_.joinable()) walker_.join();
  }

  absl::Status CollectNamespace(NamespaceVisit& visit,
                                MetricSet& out) override {
    if (!Runnable().ok()) return absl::OkStatus();  // CollectNode says why
    if (absl::Status seed = shared_.SeedOnce(visit.inode()); !seed.ok()) {
      return seed;
    }
    const std::shared_ptr<const Pass> pass = ScrapePass();
    if (pass == nullptr || !pass->covered.contains(visit.inode())) {
      Wake();  // a namespace new to the walk: cover it soon
      return absl::OkStatus();
    }
    static const socket_walk::NamespaceSummary kNone;
    const auto found =
        pass->summary.namespaces.find(static_cast<uint32_t>(visit.inode()));
    const socket_walk::NamespaceSummary& ns =
        found == pass->summary.namespaces.end() ? kNone : found->second;
    Export(visit.label(), ns, out);

    // An accept queue the pass saw empty (or a listener it did not see) that
    // holds connections now: walk again soon, to time their wait.
    const absl::StatusOr<procfs::Listeners>& listeners = visit.Listeners();
    if (listeners.ok()) {
      for (const auto& [key, totals] : *listeners) {
        if (totals.accept_queue_length == 0) continue;
        const auto seen = ns.listeners.find(key);
        if (seen == ns.listeners.end() || seen->second.accept_queue_seen == 0) {
          Wake();
          break;
        }
      }
    }
    return absl::OkStatus();
  }

  absl::Status CollectNode(const ScrapeContext&, MetricSet& out) override {
    if (absl::Status runnable = Runnable(); !runnable.ok()) return runnable;
    const std::shared_ptr<const Pass> pass = ScrapePass();
    {
      absl::MutexLock lock(&mutex_);
      scrape_pass_ = nullptr;  // the next scrape takes the newest
    }
    if (pass != nullptr) {
      out.Gauge("tcpq_socket_walk_duration_seconds",
                "Time the last completed walk over every socket took.", {},
                pass->seconds);
      out.Gauge("tcpq_socket_walk_timestamp_seconds",
                "When the last completed walk over every socket ended (Unix "
                "time); the sockets collector's metrics describe that moment.",
                {}, absl::ToDoubleSeconds(pass->end - absl::UnixEpoch()));
      out.Gauge("tcpq_socket_walk_sockets",
                "Sockets the last completed walk saw, in every namespace "
                "(full sockets with socket storage: no TIME_WAIT, no request "
                "sockets).",
                {}, static_cast<double>(pass->summary.sockets));
    }
    absl::MutexLock lock(&mutex_);
    if (!last_error_.ok()) return last_error_;
    return socket_walk::Freshness(pass != nullptr ? pass->end : started_,
                                  absl::Now(), interval_);
  }

 private:
  // Why the collector cannot work, or OK.
  absl::Status Runnable() const {
    bpf::Programs* programs = shared_.programs();
    if (programs == nullptr) return shared_.load_error();
    for (int hook : {TCPQ_HOOK_WALK, TCPQ_HOOK_ITER_TCP}) {
      if (!programs->can_walk(hook)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "BPF program ", bpf::HookName(hook),
            " is not attached (or inet_sock_set_state has no socket storage)"));
      }
    }
    return absl::OkStatus();
  }

  void Export(const std::string& netns, const socket_walk::NamespaceSummary& ns,
              MetricSet& out) const {
    for (uint32_t state : socket_walk::kAgedStates) {
      out.Gauge(
          "tcpq_sockets_oldest_seconds",
          "How long the oldest socket in this state has been in it, as "
          "of the last walk (sockets older than the exporter count from "
          "when it first saw them); 0 when there is none.",
          {{"netns", netns}, {"state", std::string(bpf::TcpStateName(state))}},
          ns.oldest_seconds[state].value_or(0));
    }
    for (const auto& [key, listener] : ns.listeners) {
      const Labels labels = ListenerLabels(netns, key);
      out.Gauge("tcpq_listener_peers",
                "Distinct remote addresses with established connections to "
                "this listener, as of the last walk.",
                labels, static_cast<double>(listener.peers));
      out.Gauge("tcpq_listener_peer_connections_max",
                "The most established connections one remote address holds "
                "to this listener, as of the last walk.",
                labels, static_cast<double>(listener.peer_connections_max));
      for (const socket_walk::Peer& peer : listener.top_peers) {
        Labels with_peer = labels;
        with_peer.emplace_back("peer", peer.address);
        out.Gauge("tcpq_listener_top_peer_connections",
                  "Established connections of the remote addresses holding "
                  "the most to this listener (--collector.sockets.top-peers "
                  "of them, each with at least "
                  "--collector.sockets.peer-min-connections; ties: lowest "
                  "address first), as of the last walk.",
                  with_peer, static_cast<double>(peer.connections));
      }
      out.Gauge("tcpq_listener_accept_queue_oldest_seconds",
                "How long the oldest connection in this listener's accept "
                "queue has waited for accept(), as of the last walk; 0 when "
                "the queue is empty.",
                labels, listener.accept_queue_oldest_seconds);
    }
  }

  // The pass this scrape serves: the newest when the scrape first asks, the
  // same for every namespace and the walk's health gauges of that scrape
  // (scrapes are serialized; CollectNode ends one).
  std::shared_ptr<const Pass> ScrapePass() {
    absl::MutexLock lock(&mutex_);
    if (scrape_pass_ == nullptr) scrape_pass_ = pass_;
    return scrape_pass_;
  }

  void Wake() {
    absl::MutexLock lock(&mutex_);
    woken_ = true;
  }

  void Loop() {
    absl::Time last_start = absl::InfinitePast();
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        const absl::Time due = last_start + interval_;
        const auto woken_or_stopping =
            [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
              return woken_ || stopping_;
            };
        mutex_.AwaitWithDeadline(absl::Condition(&woken_or_stopping), due);
        if (stopping_) return;
        const absl::Time earliest = std::min(due, last_start + kMinWakeGap);
        mutex_.AwaitWithDeadline(absl::Condition(&stopping_), earliest);
        if (stopping_) return;
        woken_ = false;
      }
      last_start = absl::Now();
      RunPass();
    }
  }

  void RunPass() {
    auto pass = std::make_shared<Pass>();
    pass->covered = shared_.Seeded();
    const absl::Time start = absl::Now();
    const double cpu_start = ThreadCpuSeconds();
    absl::StatusOr<bpf::WalkAggregates> walked =
        shared_.programs()->WalkAggregated(listening_);
    if (walked.ok()) {
      // Peers are counted on the listening ports of the previous pass: when
      // listeners appeared, walk again at once so that theirs count too.
      std::vector<uint16_t> listening = socket_walk::ListeningPorts(*walked);
      const bool new_ports =
          !std::includes(listening_.begin(), listening_.end(),
                         listening.begin(), listening.end());
      listening_ = std::move(listening);
      if (new_ports) walked = shared_.programs()->WalkAggregated(listening_);
    }
    absl::Status status = walked.status();
    int walks = 0;
    uint64_t stops = 0;
    if (walked.ok()) {
      pass->summary = socket_walk::Summarize(*walked, MonotonicNs(), options_);
      walks = walked->walks;
      stops = walked->stops;
    }
    pass->end = absl::Now();
    pass->seconds = absl::ToDoubleSeconds(pass->end - start);
    pass->cpu_seconds = ThreadCpuSeconds() - cpu_start;
    log::Debug("socket walk", {{"sockets", absl::StrCat(pass->summary.sockets)},
                               {"seconds", absl::StrCat(pass->seconds)},
                               {"cpu_seconds", absl::StrCat(pass->cpu_seconds)},
                               {"walks", absl::StrCat(walks)},
                               {"stops", absl::StrCat(stops)},
                               {"err", status.ok() ? "" : status.ToString()}});
    absl::MutexLock lock(&mutex_);
    // A failed pass keeps the last good one in service.
    if (status.ok()) pass_ = std::move(pass);
    last_error_ = status;
  }

  // The walker thread's: the listening ports of the last pass.
  std::vector<uint16_t> listening_;  // sorted
  SharedBpf& shared_;
  const absl::Duration interval_;
  const socket_walk::Options options_;
  const absl::Time started_;
  mutable absl::Mutex mutex_;
  std::shared_ptr<const Pass> pass_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<const Pass> scrape_pass_ ABSL_GUARDED_BY(mutex_);
  absl::Status last_error_ ABSL_GUARDED_BY(mutex_);
  bool woken_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread walker_;
};

absl::StatusOr<std::unique_ptr<Collector>> NewSocketsCollector() {
  const absl::Duration interval =
      absl::GetFlag(FLAGS_collector_sockets_interval);
  if (interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--collector.sockets.interval must be a positive duration");
  }
  const int32_t top = absl::GetFlag(FLAGS_collector_sockets_top_peers);
  if (top < 0) {
    return absl::InvalidArgumentError(
        "--collector.sockets.top-peers must be 0 or more");
  }
  const int64_t min =
      absl::GetFlag(FLAGS_collector_sockets_peer_min_connections);
  if (min < 1) {
    return absl::InvalidArgumentError(
        "--collector.sockets.peer-min-connections must be 1 or more");
  }
  return std::make_unique<SocketsCollector>(
      SharedBpf::Get(), interval,
      socket_walk::Options{static_cast<size_t>(top),
                           static_cast<uint64_t>(min)});
}

}  // namespace
}  // namespace tcpq

TCPQ_COLLECTOR(sockets, true,
               "Enable the sockets collector: peers per listener, the oldest "
               "socket per state and the oldest accept-queue wait, from one "
               "walk over every socket of every namespace (BPF), every "
               "--collector.sockets.interval, off the scrape path.",
               tcpq::NewSocketsCollector, "collector.sockets.interval",
               "collector.sockets.top-peers",
               "collector.sockets.peer-min-connections");

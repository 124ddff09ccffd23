#include "exporter/collector_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "build_info.h"
#include "exporter/log.h"
#include "exporter/workload.h"

namespace tcpq {
namespace {

std::vector<CollectorDefinition>& Registry() {
  static auto* registry = new std::vector<CollectorDefinition>;
  return *registry;
}

// "collector.netstat.fields" -> "collector_netstat_fields".
std::string AbslName(absl::string_view spelling) {
  return absl::StrReplaceAll(spelling, {{".", "_"}, {"-", "_"}});
}

uint64_t OwnNetnsInode() {
  struct stat st {};
  return ::stat("/proc/self/ns/net", &st) == 0 ? st.st_ino : 0;
}

}  // namespace

bool RegisterCollector(CollectorDefinition definition) {
  std::vector<CollectorDefinition>& registry = Registry();
  registry.push_back(std::move(definition));
  std::sort(registry.begin(), registry.end(),
            [](const CollectorDefinition& a, const CollectorDefinition& b) {
              return a.name < b.name;
            });
  return true;
}

const std::vector<CollectorDefinition>& CollectorDefinitions() {
  return Registry();
}

absl::Status CheckCollectorFlags() {
  std::vector<std::string> flag_names;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    flag_names.emplace_back(name);
  }
  return CheckCollectorFlags(Registry(), flag_names);
}

absl::Status CheckCollectorFlags(
    const std::vector<CollectorDefinition>& definitions,
    const std::vector<std::string>& flag_names) {
  if (definitions.empty()) {
    return absl::InternalError(
        "no collector is registered (were the collectors linked whole?)");
  }
  const absl::flat_hash_set<std::string> defined(flag_names.begin(),
                                                 flag_names.end());
  absl::flat_hash_set<std::string> declared;
  for (const CollectorDefinition& d : definitions) {
    declared.insert(AbslName(absl::StrCat("collector.", d.name)));
    for (absl::string_view option : d.option_flags) {
      if (!absl::StartsWith(option, absl::StrCat("collector.", d.name, "."))) {
        return absl::InternalError(
            absl::StrCat("option --", option, " of collector ", d.name,
                         " is not named collector.", d.name, ".*"));
      }
      if (!defined.contains(AbslName(option))) {
        return absl::InternalError(absl::StrCat("collector ", d.name,
                                                " declares option --", option,
                                                ", which is not defined"));
      }
      declared.insert(AbslName(option));
    }
  }
  for (const std::string& name : flag_names) {
    if (absl::StartsWith(name, "collector_") && !declared.contains(name)) {
      return absl::InternalError(absl::StrCat(
          "flag ", name, " belongs to no registered collector (declare it ",
          "with TCPQ_COLLECTOR or as an option of one)"));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> CollectorFlagSpellings() {
  std::vector<std::string> spellings;
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    spellings.push_back(absl::StrCat("collector.", d.name));
  }
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    for (absl::string_view option : d.option_flags)
      spellings.emplace_back(option);
  }
  return spellings;
}

absl::StatusOr<std::unique_ptr<Scraper>> Scraper::Create(
    const procfs::DiscoveryOptions& discovery) {
  if (absl::Status flags = CheckCollectorFlags(); !flags.ok()) return flags;
  NamedCollectors collectors;
  for (const CollectorDefinition& d : CollectorDefinitions()) {
    if (!absl::GetFlag(*d.enabled)) continue;
    absl::StatusOr<std::unique_ptr<Collector>> collector = d.create();
    if (!collector.ok()) return collector.status();
    collectors.emplace_back(std::string(d.name), *std::move(collector));
  }
  return WithCollectors(discovery, std::move(collectors));
}

std::unique_ptr<Scraper> Scraper::WithCollectors(
    const procfs::DiscoveryOptions& discovery, NamedCollectors collectors) {
  std::unique_ptr<Scraper> scraper(new Scraper(discovery));
  for (auto& [name, collector] : collectors) {
    Entry& entry = scraper->entries_.emplace_back();
    entry.name = std::move(name);
    entry.collector = std::move(collector);
  }
  // More lanes than cores only adds context switches; past 4 the scraping
  // thread's own work (merging, serializing) dominates.
  const size_t lanes =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  for (size_t i = 0; i < lanes; ++i) {
    scraper->lanes_.push_back(std::make_unique<procfs::NetnsExecutor>());
  }
  return scraper;
}

std::shared_ptr<const Scraper::Names> Scraper::LastNames() const {
  absl::MutexLock lock(&names_mutex_);
  return names_;
}

std::vector<std::string> Scraper::EnabledCollectors() const {
  std::vector<std::string> names;
  for (const Entry& e : entries_) names.push_back(e.name);
  return names;
}

std::vector<prometheus::MetricFamily> Scraper::Scrape() {
  absl::MutexLock lock(&mutex_);
  MetricSet out;
  out.Gauge("tcpq_exporter_build_info",
            "A metric with a constant '1' value labeled by version and git "
            "revision of tcpq_exporter.",
            {{"version", kVersion}, {"revision", kRevision}}, 1);
  out.Counter("tcpq_exporter_scrapes_total",
              "Collections run since the exporter started, this one included "
              "(scrapes that arrive while one runs share it).",
              {}, static_cast<double>(++scrapes_));

  absl::StatusOr<procfs::Discovered> found =
      procfs::DiscoverNamespaces(discovery_, &discovered_);
  if (found.ok() != discovery_ok_) {
    discovery_ok_ = found.ok();
    if (found.ok()) {
      log::Info("namespace discovery recovered");
    } else {
      log::Error("namespace discovery failed",
                 {{"err", found.status().ToString()}});
    }
  }
  const int denied = found.ok() ? found->denied : 0;
  if ((denied > 0) != discovery_denied_) {
    discovery_denied_ = denied > 0;
    if (discovery_denied_) {
      log::Warn(
          "some processes' network namespaces may not be read; namespaces "
          "only they are in are missing (reading /proc/<pid>/ns/net of "
          "other processes needs CAP_SYS_PTRACE)",
          {{"processes", absl::StrCat(denied)}});
    } else {
      log::Info("every process's network namespace is readable again");
    }
  }
  std::vector<procfs::Netns> namespaces =
      found.ok() ? std::move(found->namespaces) : std::vector<procfs::Netns>{};
  RefreshKubeletNames();
  out.Gauge("tcpq_netns_scanned", "Network namespaces read in this scrape.", {},
            static_cast<double>(namespaces.size()));
  out.Gauge("tcpq_netns_denied_processes",
            "Processes whose network namespace the exporter may not open "
            "(reading another process's /proc/<pid>/ns/net needs "
            "CAP_SYS_PTRACE); namespaces only they are in are missing.",
            {}, denied);
  auto names = std::make_shared<Names>();
  for (procfs::Netns& ns : namespaces) {
    NamePod(kubelet_, ns.identity);
    out.Gauge("tcpq_netns_info",
              "Names of a network namespace: its /run/netns name and, in "
              "Kubernetes, the pod UID and container ID of its lowest PID "
              "(the pod sandbox) and the pod's namespace and name.",
              NetnsInfoLabels(ns.identity), 1);
    names->namespaces[ns.identity.inode] = ns.identity;
  }

  const NodeSnapshot snapshot = ReadAllNamespaces();
  int listeners_covered = 0;
  int records_covered = 0;
  for (const procfs::Netns& ns : namespaces) {
    listeners_covered +=
        snapshot.listeners.has_value() &&
        snapshot.listeners->covered.contains(ns.identity.inode);
    records_covered += snapshot.records.has_value() &&
                       snapshot.records->contains(ns.identity.inode);
  }
  out.Gauge("tcpq_netns_listeners_from_bpf",
            "Namespaces of this scrape whose listeners were read in one pass "
            "over the BPF programs' listening sockets; the others each had "
            "a sock_diag dump (namespaces seen for the first time, or BPF "
            "off).",
            {}, listeners_covered);
  out.Gauge("tcpq_netns_read_from_bpf",
            "Namespaces of this scrape whose TCP counters, sysctls and "
            "TIME_WAIT count (netstat, snmp, sysctl, bpf) were read in one "
            "BPF pass over every namespace's struct net; the others each had "
            "their /proc files read (namespaces seen for the first time, or "
            "BPF off).",
            {}, records_covered);
  const NodeContext node{discovery_.procfs, kubelet_, snapshot};
  Statuses statuses;
  std::vector<Share> shares = VisitNamespaces(namespaces, node, statuses);
  const ScrapeContext context{namespaces, node};
  // Per collector, in registration order: its namespaces in discovery order,
  // then its node-wide step.
  for (size_t c = 0; c < entries_.size(); ++c) {
    Entry& entry = entries_[c];
    double seconds = 0;
    for (Share& share : shares) {
      out.Merge(std::move(share.metrics[c]));
      seconds += share.seconds[c];
    }
    absl::Status status;
    for (size_t i = 0; i < namespaces.size() && status.ok(); ++i) {
      const absl::Status& read = statuses[i][c];
      if (!read.ok()) {
        status = absl::Status(
            read.code(), absl::StrCat("netns ", NetnsLabel(namespaces[i]), ": ",
                                      read.message()));
      }
    }
    const absl::Time start = absl::Now();
    const absl::Status node = entry.collector->CollectNode(context, out);
    seconds += absl::ToDoubleSeconds(absl::Now() - start);
    if (!node.ok() && status.ok()) status = node;

    if (status.ok() != entry.last_ok) {
      entry.last_ok = status.ok();
      if (status.ok()) {
        log::Info("collector recovered", {{"collector", entry.name}});
      } else {
        log::Warn("collector failed",
                  {{"collector", entry.name}, {"err", status.ToString()}});
      }
    }
    out.Gauge("tcpq_collector_success",
              "1 if the collector's last scrape succeeded, 0 if it failed.",
              {{"collector", entry.name}}, status.ok() ? 1 : 0);
    out.Gauge("tcpq_collector_duration_seconds",
              "Time the collector's last scrape took.",
              {{"collector", entry.name}}, seconds);
  }
  std::vector<prometheus::MetricFamily> families = out.Take();
  AddListenerProcesses(families, *names);
  {
    absl::MutexLock lock(&names_mutex_);
    names_ = std::move(names);
  }
  return families;
}

void Scraper::AddListenerProcesses(
    const std::vector<prometheus::MetricFamily>& families, Names& names) {
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != kListenerInfoMetric) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      uint64_t netns = 0;
      procfs::ListenerKey key;
      std::string process;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        if (label.name == "netns") {
          if (!absl::SimpleAtoi(label.value, &netns)) netns = 0;
        } else if (label.name == "addr") {
          key.addr = label.value;
        } else if (label.name == "port") {
          uint32_t port = 0;
          if (absl::SimpleAtoi(label.value, &port) && port <= 65535) {
            key.port = static_cast<uint16_t>(port);
          }
        } else if (label.name == "process") {
          process = label.value;
        }
      }
      if (netns != 0 && !process.empty()) {
        names.listener_processes[netns][key] = std::move(process);
      }
    }
  }
}

NodeSnapshot Scraper::ReadAllNamespaces() {
  NodeSnapshot snapshot;
  for (Entry& entry : entries_) {
    const absl::Status read = entry.collector->ReadAllNamespaces(snapshot);
    if (read.ok() == entry.read_all_ok) continue;
    entry.read_all_ok = read.ok();
    if (read.ok()) {
      log::Info("reading every namespace at once recovered",
                {{"collector", entry.name}});
    } else {
      log::Warn(
          "cannot read every namespace at once; each namespace is read in "
          "its visit",
          {{"collector", entry.name}, {"err", read.ToString()}});
    }
  }
  return snapshot;
}

void Scraper::RefreshKubeletNames() {
  const procfs::KubeletLogs::Refreshed refreshed = kubelet_.Refresh();
  for (const std::string& name : refreshed.rejected) {
    log::Warn("not a kubelet log name, ignored", {{"path", name}});
  }
  if (refreshed.error.ok() != kubelet_ok_) {
    kubelet_ok_ = refreshed.error.ok();
    if (kubelet_ok_) {
      log::Info("kubelet log directories readable again");
    } else {
      log::Warn("cannot read the kubelet log directories; pods are not named",
                {{"err", refreshed.error.ToString()}});
    }
  }
}

std::vector<Scraper::Share> Scraper::VisitNamespaces(
    const std::vector<procfs::Netns>& namespaces, const NodeContext& node,
    Statuses& statuses) {
  // What is kept of each namespace, made here (the lanes only use it); what
  // was kept of namespaces no longer found is dropped.
  std::vector<KeptNamespace*> kept(namespaces.size());
  absl::flat_hash_set<uint64_t> found;
  for (size_t i = 0; i < namespaces.size(); ++i) {
    std::unique_ptr<KeptNamespace>& slot = kept_[namespaces[i].identity.inode];
    if (slot == nullptr) slot = std::make_unique<KeptNamespace>();
    kept[i] = slot.get();
    found.insert(namespaces[i].identity.inode);
  }
  absl::erase_if(
      kept_, [&](const auto& entry) { return !found.contains(entry.first); });
  statuses.assign(namespaces.size(),
                  std::vector<absl::Status>(entries_.size()));

  // The exporter's own namespace, first in discovery order, is read on this
  // thread, which never leaves it: with --netns=host a scrape hands nothing
  // to another thread. The others are split into one contiguous run per
  // lane: each thread fills one set of metrics per collector, and merging
  // the runs in order keeps discovery order.
  static const uint64_t own_inode = OwnNetnsInode();
  const size_t own =
      !namespaces.empty() && namespaces[0].identity.inode == own_inode ? 1 : 0;
  const size_t rest = namespaces.size() - own;
  const size_t lanes = std::min(lanes_.size(), rest);
  std::vector<Share> shares(own + lanes);
  for (Share& share : shares) {
    share.metrics.resize(entries_.size());
    share.seconds.resize(entries_.size());
  }
  for (size_t l = 0; l < lanes; ++l) {
    const size_t begin = own + rest * l / lanes;
    const size_t end = own + rest * (l + 1) / lanes;
    procfs::NetnsExecutor& lane = *lanes_[l];
    Share& share = shares[own + l];
    lane.Start([&, begin, end] {
      for (size_t i = begin; i < end; ++i) {
        Visit(namespaces[i], lane.Enter(namespaces[i]), node, *kept[i], share,
              statuses[i]);
      }
      lane.ReturnHome();
    });
  }
  if (own == 1) {
    Visit(namespaces[0], absl::OkStatus(), node, *kept[0], shares[0],
          statuses[0]);
  }
  for (size_t l = 0; l < lanes; ++l) lanes_[l]->Wait();
  return shares;
}

void Scraper::Visit(const procfs::Netns& ns, const absl::Status& entered,
                    const NodeContext& node, KeptNamespace& kept, Share& share,
                    std::vector<absl::Status>& statuses) const {
  NamespaceVisit visit(ns, node, kept);
  for (size_t c = 0; c < entries_.size(); ++c) {
    if (!entered.ok()) {
      statuses[c] = entered;
      continue;
    }
    const absl::Time start = absl::Now();
    statuses[c] =
        entries_[c].collector->CollectNamespace(visit, share.metrics[c]);
    share.seconds[c] += absl::ToDoubleSeconds(absl::Now() - start);
  }
}

}  // namespace tcpq

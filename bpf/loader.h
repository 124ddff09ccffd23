#pragma once

// Loads and attaches the programs of tcpq.bpf.c through the generated
// skeleton, and reads their maps. One tracepoint missing (or refusing a
// program) disables only that hook; the others still attach.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bpf/mib_fields.h"
#include "bpf/tcpq.h"
#include "bpf/walk_records.h"

struct tcpq_bpf;  // the bpftool skeleton
struct bpf_link;

namespace tcpq::bpf {

// The hooks are TCPQ_HOOK_* (TCPQ_HOOK_LIST in tcpq.h), in the order of
// tcpq_bpf_program_attached.

// The program label of a hook: the tracepoint's name, "iter_tcp" for the
// seeding walk.
absl::string_view HookName(int hook);

// How a hook's program is attached.
enum class Attachment { kNone, kTpBtf, kRawTp, kIter };
absl::string_view AttachmentName(Attachment attachment);

struct LoadOptions {
  bool histograms_by_netns = false;  // per-namespace histograms

  // Test seam: what the integration tests (tests/integration/test_bpf.py)
  // set through the TCPQ_BPF_* environment variables (bpf_shared.cc) to
  // play kernels this machine is not. Production leaves them as they are.
  bool allow_tp_btf = true;       // false: raw_tp only (the fallback)
  std::vector<std::string> skip;  // HookName()s to treat as missing
  // HookName()s whose tp_btf program is made to fail loading, as on a kernel
  // without that BTF tracepoint: they fall back to raw_tp.
  std::vector<std::string> break_tp_btf;
  uint32_t max_netns = 0;  // bound of netns_stats; 0: TCPQ_MAX_NETNS
  // Nonzero: walk_sockets writes a record's worth of zeroes per socket it
  // counts and its passes read() this many bytes at a time, so that the
  // kernel stops and resumes their walks (TCPQ_BPF_WALK_READ_SIZE).
  size_t walk_read_size = 0;
};

// Map names of tcpq_bpf_map_update_failures_total, indexed by TCPQ_MAP_*
// (TCPQ_MAP_LIST in tcpq.h).
absl::string_view MapName(int map);

class Programs {
 public:
  // Loads and attaches every hook it can: tp_btf first, raw_tp for a hook
  // whose tp_btf program does not load or attach. An error when nothing at
  // all could be loaded (no BPF, no BTF, no privilege), with libbpf's reason.
  static absl::StatusOr<std::unique_ptr<Programs>> Load(
      const LoadOptions& options);
  ~Programs();
  Programs(const Programs&) = delete;
  Programs& operator=(const Programs&) = delete;

  Attachment attachment(int hook) const { return attachment_[hook]; }
  // libbpf_num_possible_cpus(): a tcpq_netns_record is complete when it added
  // this many CPUs' copies.
  int possible_cpus() const { return ncpus_; }
  // The running kernel's TCP_MIB_* and LINUX_MIB_* enumerators (empty
  // without its BTF): where read_netns puts each field (bpf::MibFieldIndex).
  const MibEnumerators& mib_enumerators() const { return mib_enumerators_; }
  // The socket gauge and the histograms need per-socket storage, which only
  // the tp_btf program of inet_sock_set_state has; the gauge also needs the
  // seeding walk.
  bool has_socket_storage() const {
    return attachment_[TCPQ_HOOK_SET_STATE] == Attachment::kTpBtf;
  }
  bool can_seed() const {
    return has_socket_storage() &&
           attachment_[TCPQ_HOOK_ITER_TCP] == Attachment::kIter;
  }

  // read_listeners is complete for a seeded namespace: the tp_btf program of
  // inet_sock_set_state marks every socket entering LISTEN, the seeding walk
  // the older ones.
  bool can_read_listeners() const {
    return can_seed() && attachment_[TCPQ_HOOK_LISTENERS] == Attachment::kIter;
  }

  // read_netns reads the namespaces anchored with AnchorNamespace.
  bool can_read_netns() const {
    return attachment_[TCPQ_HOOK_NETNS] == Attachment::kIter;
  }

  // The walks over the socket storage of every namespace (WalkConnections,
  // WalkAggregated).
  bool can_walk(int hook) const {
    return has_socket_storage() && attachment_[hook] == Attachment::kIter;
  }

  // One pass of walk_connections with `filter` (tcpq.h: tcpq_connection
  // records, or since_ns values), its output handed to `chunk` one read() at
  // a time: records may straddle two chunks. Any thread, any namespace: the
  // walk sees every namespace. One caller at a time.
  absl::Status WalkConnections(
      const tcpq_conn_filter& filter,
      absl::FunctionRef<void(std::span<const uint8_t>)> chunk);

  // One pass of walk_sockets over every namespace, counting as peers the
  // ESTABLISHED sockets on `listening_ports` (server side, any namespace);
  // its aggregates are read and the maps cleared for the next pass. Each
  // socket counts once, even when the kernel stops and resumes the walk.
  // One caller at a time.
  absl::StatusOr<WalkAggregates> WalkAggregated(
      const std::vector<uint16_t>& listening_ports);

  // One pass of read_listeners: every listening socket of every namespace
  // (tcpq_listener_record), handed to `chunk` one read() at a time. Complete
  // for a namespace once it was seeded (SeedCallingThreadNetns) before the
  // pass. One caller at a time.
  absl::Status ReadListeners(
      absl::FunctionRef<void(std::span<const uint8_t>)> chunk);

  // Makes read_netns report the namespace of `socket_fd` (any socket the
  // caller keeps open in it) for as long as that socket lives.
  absl::Status AnchorNamespace(int socket_fd);

  // One pass of read_netns: a tcpq_netns_record for every anchored namespace,
  // handed to `chunk` one read() at a time. One caller at a time.
  absl::Status ReadNetns(
      absl::FunctionRef<void(std::span<const uint8_t>)> chunk);

  // Counts the full sockets of the calling thread's network namespace into
  // the socket gauge (iter/tcp only walks the namespace of the thread that
  // creates the iterator). Sockets counted by a transition already are
  // skipped by the program, so this may run any time after attaching.
  absl::Status SeedCallingThreadNetns();

  // Every namespace's counters, summed over the CPUs.
  absl::Status ReadNetnsStats(
      absl::FunctionRef<void(uint32_t netns, const tcpq_netns_stats&)> visit);
  absl::Status DeleteNetnsStats(uint32_t netns);
  absl::Status ReadSynack(
      absl::FunctionRef<void(const tcpq_synack_key&, uint64_t)> visit);
  absl::Status DeleteSynack(const tcpq_synack_key& key);
  // Node-wide histogram `index` (a TCP state or TCPQ_HIST_CONNECT), summed
  // over the CPUs.
  absl::Status ReadHist(uint32_t index, tcpq_hist& out);
  // Per-namespace histograms (LoadOptions::histograms_by_netns).
  absl::Status ReadNetnsHists(
      absl::FunctionRef<void(const tcpq_hist_key&, const tcpq_hist&)> visit);
  absl::Status DeleteNetnsHist(const tcpq_hist_key& key);
  absl::StatusOr<std::array<uint64_t, TCPQ_MAPS>> ReadMapFailures();

 private:
  Programs() = default;

  // Runs the iterator of `hook` (TCPQ_HOOK_WALK, _CONNECTIONS, _LISTENERS)
  // over the whole map, handing each read() of `buffer.size()` bytes to
  // `chunk`. Returns how many read()s stopped the kernel's walk (returned
  // bytes, or EAGAIN after a million sockets).
  absl::StatusOr<uint64_t> WalkSockets(
      int hook, std::span<uint8_t> buffer,
      absl::FunctionRef<void(std::span<const uint8_t>)> chunk);

  tcpq_bpf* skel_ = nullptr;
  std::array<bpf_link*, TCPQ_HOOKS> links_{};
  std::array<Attachment, TCPQ_HOOKS> attachment_{};
  int ncpus_ = 0;
  MibEnumerators mib_enumerators_;
  size_t walk_read_size_ = 0;  // LoadOptions::walk_read_size
  uint16_t walk_pass_ = 0;     // the last pass of walk_sockets
};

}  // namespace tcpq::bpf

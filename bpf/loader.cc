#include "bpf/loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "bpf/convert.h"
#include "bpf/mib_fields.h"
#include "tcpq.skel.h"

namespace tcpq::bpf {
namespace {

// libbpf reports why something failed only through its print callback. While
// Load runs, the first line of each warning is kept for the error message;
// otherwise libbpf stays quiet (the exporter's stderr is logfmt only).
absl::Mutex capture_mutex;
std::vector<std::string>* capture ABSL_GUARDED_BY(capture_mutex) = nullptr;

int CaptureLibbpfPrint(enum libbpf_print_level level, const char* format,
                       va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char buffer[512];
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  absl::string_view line = buffer;
  line = line.substr(0, line.find('\n'));
  absl::ConsumePrefix(&line, "libbpf: ");
  absl::MutexLock lock(&capture_mutex);
  if (capture != nullptr && capture->size() < 64 && !line.empty()) {
    capture->emplace_back(line);
  }
  return 0;
}

class LibbpfCapture {
 public:
  LibbpfCapture() {
    absl::MutexLock lock(&capture_mutex);
    capture = &lines_;
  }
  ~LibbpfCapture() {
    absl::MutexLock lock(&capture_mutex);
    capture = nullptr;
  }
  // The first line that names a cause: not the verifier log's frame, and not
  // the RLIMIT_MEMLOCK warning libbpf prints when bpf() itself is refused.
  std::string FirstReason() {
    absl::MutexLock lock(&capture_mutex);
    for (const std::string& line : lines_) {
      if (!absl::StrContains(line, "PROG LOAD LOG") &&
          !absl::StrContains(line, "Failed to bump RLIMIT_MEMLOCK")) {
        return line;
      }
    }
    return lines_.empty() ? "" : lines_.front();
  }

 private:
  std::vector<std::string> lines_;
};

absl::Status Errno(absl::string_view what, int err) {
  return absl::Status(err == EPERM || err == EACCES
                          ? absl::StatusCode::kPermissionDenied
                          : absl::StatusCode::kUnavailable,
                      absl::StrCat(what, ": ", std::strerror(err)));
}

using Choice = std::array<Attachment, TCPQ_HOOKS>;

// Whether each hook is an iterator (TCPQ_HOOK_LIST's kind).
constexpr bool kIsIterator[TCPQ_HOOKS] = {
#define TCPQ_HOOK_IS_ITER(id, label, kind) \
  TCPQ_HOOK_KIND_##kind == TCPQ_HOOK_KIND_ITER,
    TCPQ_HOOK_LIST(TCPQ_HOOK_IS_ITER)
#undef TCPQ_HOOK_IS_ITER
};

// The programs of one hook.
struct HookPrograms {
  bpf_program* main;  // the tp_btf program, or the iterator
  bpf_program* raw;   // the raw_tp twin of a tp_btf program; null: none
  bpf_map* iterated;  // the socket storage map an iterator walks; null: none
};

// Each hook's programs, in TCPQ_HOOK_LIST order.
std::array<HookPrograms, TCPQ_HOOKS> ProgramsOf(tcpq_bpf* skel) {
  return {{
      {skel->progs.set_state_btf, skel->progs.set_state_raw, nullptr},
      {skel->progs.retransmit_skb_btf, skel->progs.retransmit_skb_raw, nullptr},
      {skel->progs.retransmit_synack_btf, skel->progs.retransmit_synack_raw,
       nullptr},
      {skel->progs.send_reset_btf, skel->progs.send_reset_raw, nullptr},
      {skel->progs.receive_reset_btf, skel->progs.receive_reset_raw, nullptr},
      {skel->progs.seed_sockets, nullptr, nullptr},  // iter/tcp
      {skel->progs.walk_sockets, nullptr, skel->maps.sk_state},
      {skel->progs.walk_connections, nullptr, skel->maps.sk_state},
      {skel->progs.read_listeners, nullptr, skel->maps.listen_sk},
      {skel->progs.read_netns, nullptr, skel->maps.netns_anchor},
  }};
}

// Whether the running kernel's tcp_retransmit_skb tracepoint has the `err`
// argument (its BTF prototype: void *, sk, skb, err).
bool RetransmitHasErr(const struct btf* vmlinux) {
  if (vmlinux == nullptr) return false;
  bool has_err = false;
  const int id = btf__find_by_name_kind(vmlinux, "btf_trace_tcp_retransmit_skb",
                                        BTF_KIND_TYPEDEF);
  if (id > 0) {
    const struct btf_type* type = btf__type_by_id(vmlinux, id);
    type = btf__type_by_id(vmlinux, type->type);
    if (type != nullptr && btf_is_ptr(type)) {
      type = btf__type_by_id(vmlinux, type->type);
      has_err =
          type != nullptr && btf_is_func_proto(type) && btf_vlen(type) >= 4;
    }
  }
  return has_err;
}

}  // namespace

absl::string_view HookName(int hook) {
  static constexpr absl::string_view kNames[TCPQ_HOOKS] = {
#define TCPQ_HOOK_NAME(id, label, kind) label,
      TCPQ_HOOK_LIST(TCPQ_HOOK_NAME)
#undef TCPQ_HOOK_NAME
  };
  return hook >= 0 && hook < TCPQ_HOOKS ? kNames[hook] : "";
}

absl::string_view AttachmentName(Attachment attachment) {
  switch (attachment) {
    case Attachment::kNone:
      return "none";
    case Attachment::kTpBtf:
      return "tp_btf";
    case Attachment::kRawTp:
      return "raw_tp";
    case Attachment::kIter:
      return "iter";
  }
  return "";
}

absl::string_view MapName(int map) {
  static constexpr absl::string_view kNames[TCPQ_MAPS] = {
#define TCPQ_MAP_NAME(id, name) name,
      TCPQ_MAP_LIST(TCPQ_MAP_NAME)
#undef TCPQ_MAP_NAME
  };
  return map >= 0 && map < TCPQ_MAPS ? kNames[map] : "";
}

namespace {

// Opens a skeleton that loads exactly the programs `choice` names, loads it
// and attaches them. A program that loads but does not attach is left
// unattached (kNone); a failed load is an error.
absl::StatusOr<std::pair<tcpq_bpf*, std::array<bpf_link*, TCPQ_HOOKS>>>
LoadChoice(const Choice& choice, bool retransmit_has_err, int ncpus,
           const LoadOptions& options,
           std::array<Attachment, TCPQ_HOOKS>& attached) {
  tcpq_bpf* skel = tcpq_bpf__open();
  if (skel == nullptr) return Errno("opening the BPF object", errno);
  skel->rodata->retransmit_has_err = retransmit_has_err;
  skel->rodata->hist_by_netns = options.histograms_by_netns;
  skel->rodata->possible_cpus = static_cast<uint32_t>(ncpus);
  if (options.max_netns > 0) {
    bpf_map__set_max_entries(skel->maps.netns_stats, options.max_netns);
  }
  const auto programs = ProgramsOf(skel);
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    const auto [btf_program, raw_program, iterated] = programs[hook];
    if (raw_program != nullptr &&
        std::find(options.break_tp_btf.begin(), options.break_tp_btf.end(),
                  HookName(hook)) != options.break_tp_btf.end()) {
      // A type whose context the program cannot read: the load fails.
      bpf_program__set_type(btf_program, BPF_PROG_TYPE_SOCKET_FILTER);
    }
    bpf_program__set_autoload(btf_program,
                              choice[hook] == Attachment::kTpBtf ||
                                  choice[hook] == Attachment::kIter);
    if (raw_program != nullptr) {
      bpf_program__set_autoload(raw_program,
                                choice[hook] == Attachment::kRawTp);
    }
  }
  if (int err = tcpq_bpf__load(skel); err != 0) {
    tcpq_bpf__destroy(skel);
    return Errno("loading the BPF programs", -err);
  }
  std::array<bpf_link*, TCPQ_HOOKS> links{};
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    attached[hook] = Attachment::kNone;
    const auto [btf_program, raw_program, iterated] = programs[hook];
    bpf_link* link = nullptr;
    switch (choice[hook]) {
      case Attachment::kNone:
        continue;
      case Attachment::kTpBtf:
        link = bpf_program__attach(btf_program);
        break;
      case Attachment::kRawTp:
        link = bpf_program__attach(raw_program);
        break;
      case Attachment::kIter: {
        // The storage walks iterate over a socket storage map: its fd is
        // the link's parameter. iter/tcp takes none.
        union bpf_iter_link_info info = {};
        // Not DECLARE_LIBBPF_OPTS: a GNU statement expression, which
        // clang -Wpedantic rejects in C++.
        bpf_iter_attach_opts opts{};
        opts.sz = sizeof(opts);
        if (iterated != nullptr) {
          info.map.map_fd = bpf_map__fd(iterated);
          opts.link_info = &info;
          opts.link_info_len = sizeof(info);
        }
        link = bpf_program__attach_iter(btf_program, &opts);
        break;
      }
    }
    if (link != nullptr) {
      links[hook] = link;
      attached[hook] = choice[hook];
    }
  }
  return std::make_pair(skel, links);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Programs>> Programs::Load(
    const LoadOptions& options) {
  libbpf_set_print(CaptureLibbpfPrint);
  LibbpfCapture capture;
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return Errno("counting the possible CPUs", -ncpus);
  // The kernel's BTF, parsed once for what the programs must know of it.
  struct btf* vmlinux = btf__load_vmlinux_btf();
  const bool has_err = RetransmitHasErr(vmlinux);
  MibEnumerators mib_enumerators =
      vmlinux == nullptr ? MibEnumerators() : MibEnumeratorsOf(*vmlinux);
  btf__free(vmlinux);

  Choice wanted;
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    if (std::find(options.skip.begin(), options.skip.end(), HookName(hook)) !=
        options.skip.end()) {
      wanted[hook] = Attachment::kNone;
    } else if (kIsIterator[hook]) {
      wanted[hook] = Attachment::kIter;
    } else {
      wanted[hook] =
          options.allow_tp_btf ? Attachment::kTpBtf : Attachment::kRawTp;
    }
  }

  auto make =
      [&](const Choice& choice) -> absl::StatusOr<std::unique_ptr<Programs>> {
    std::unique_ptr<Programs> programs(new Programs());
    programs->ncpus_ = ncpus;
    programs->mib_enumerators_ = mib_enumerators;
    programs->walk_read_size_ = options.walk_read_size;
    absl::StatusOr<std::pair<tcpq_bpf*, std::array<bpf_link*, TCPQ_HOOKS>>>
        loaded =
            LoadChoice(choice, has_err, ncpus, options, programs->attachment_);
    if (!loaded.ok()) return loaded.status();
    programs->skel_ = loaded->first;
    programs->links_ = loaded->second;
    return programs;
  };
  auto all_attached = [&](const Programs& programs) {
    for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
      if (programs.attachment_[hook] != wanted[hook]) return false;
    }
    return true;
  };

  // The usual case: everything loads and attaches at once.
  absl::StatusOr<std::unique_ptr<Programs>> first = make(wanted);
  if (first.ok() && all_attached(**first)) return first;
  absl::Status first_error = first.status();
  if (!first_error.ok()) {
    first_error = absl::Status(
        first_error.code(),
        absl::StrCat(first_error.message(), ": ", capture.FirstReason()));
  }
  first = nullptr;  // frees the maps and links before probing

  // Something did not load or attach: try each hook alone, tp_btf then
  // raw_tp, and load together what works.
  Choice chosen{};
  bool any = false;
  for (int hook = 0; hook < TCPQ_HOOKS; ++hook) {
    std::vector<Attachment> candidates;
    if (wanted[hook] == Attachment::kTpBtf) {
      candidates = {Attachment::kTpBtf, Attachment::kRawTp};
    } else if (wanted[hook] != Attachment::kNone) {
      candidates = {wanted[hook]};
    }
    for (Attachment candidate : candidates) {
      Choice alone{};
      alone[hook] = candidate;
      absl::StatusOr<std::unique_ptr<Programs>> probe = make(alone);
      if (probe.ok() && (*probe)->attachment_[hook] == candidate) {
        chosen[hook] = candidate;
        any = true;
        break;
      }
    }
  }
  if (!any) {
    if (!first_error.ok()) return first_error;
    return absl::UnavailableError(absl::StrCat(
        "no BPF program could be attached: ", capture.FirstReason()));
  }
  absl::StatusOr<std::unique_ptr<Programs>> second = make(chosen);
  if (!second.ok()) {
    return absl::Status(
        second.status().code(),
        absl::StrCat(second.status().message(), ": ", capture.FirstReason()));
  }
  return second;
}

Programs::~Programs() {
  for (bpf_link* link : links_) {
    if (link != nullptr) bpf_link__destroy(link);
  }
  if (skel_ != nullptr) tcpq_bpf__destroy(skel_);
}

namespace {

// Runs one pass of an attached iterator, handing each read() to `chunk`.
// Returns the number of read()s that stopped the kernel's walk: those that
// returned bytes, and EAGAIN (a million sockets walked without output).
absl::StatusOr<uint64_t> RunIterator(
    bpf_link* link, absl::string_view what, std::span<uint8_t> buffer,
    absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
  const int fd = bpf_iter_create(bpf_link__fd(link));
  if (fd < 0)
    return Errno(absl::StrCat("creating the ", what, " iterator"), errno);
  ssize_t n;
  uint64_t stops = 0;
  while (true) {
    n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      ++stops;
      chunk(buffer.first(static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EAGAIN) ++stops;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    break;
  }
  const int err = errno;
  ::close(fd);
  if (n < 0) return Errno(absl::StrCat("walking the sockets with ", what), err);
  return stops;
}

}  // namespace

absl::Status Programs::SeedCallingThreadNetns() {
  if (!can_seed()) return absl::FailedPreconditionError("iter/tcp is off");
  uint8_t buffer[256];  // the seeding walk writes nothing
  return RunIterator(links_[TCPQ_HOOK_ITER_TCP], "iter/tcp", buffer,
                     [](std::span<const uint8_t>) {})
      .status();
}

absl::Status Programs::ReadListeners(
    absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
  // A few hundred listeners fit in one read(); the kernel fills at most 8
  // pages per read() of a BPF iterator.
  std::vector<uint8_t> buffer(64 * 1024);
  return WalkSockets(TCPQ_HOOK_LISTENERS, buffer, chunk).status();
}

absl::Status Programs::AnchorNamespace(int socket_fd) {
  const uint8_t unused = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.netns_anchor), &socket_fd,
                          &unused, BPF_ANY) != 0) {
    return Errno("anchoring a namespace in BPF map netns_anchor", errno);
  }
  return absl::OkStatus();
}

absl::Status Programs::ReadNetns(
    absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
  // The kernel fills at most 8 pages per read(): 13 records of 2,376 bytes.
  std::vector<uint8_t> buffer(64 * 1024);
  return WalkSockets(TCPQ_HOOK_NETNS, buffer, chunk).status();
}

absl::StatusOr<uint64_t> Programs::WalkSockets(
    int hook, std::span<uint8_t> buffer,
    absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
  if (attachment_[hook] != Attachment::kIter) {
    return absl::FailedPreconditionError(
        absl::StrCat(HookName(hook), " is not attached"));
  }
  return RunIterator(links_[hook], HookName(hook), buffer, chunk);
}

namespace {

// Visits every entry of a per-CPU hash map with its values summed over the
// CPUs. Keys are plain structs with zeroed padding, compared bytewise. The
// keys are listed first: a key deleted under us ends the listing early (the
// kernel restarts from the first key), so it is bounded and deduplicated.
template <typename Key, typename Value>
absl::Status ReadPerCpuHash(
    const bpf_map* map, int ncpus,
    absl::FunctionRef<void(const Key&, const Value&)> visit) {
  const int fd = bpf_map__fd(map);
  const size_t max_entries = bpf_map__max_entries(map);
  std::vector<Key> keys;
  Key key{};
  Key next{};
  const Key* previous = nullptr;
  while (keys.size() < 2 * max_entries) {
    if (bpf_map_get_next_key(fd, previous, &next) != 0) {
      if (errno == ENOENT) break;
      return Errno(absl::StrCat("listing BPF map ", bpf_map__name(map)), errno);
    }
    keys.push_back(next);
    key = next;
    previous = &key;
  }
  auto less = [](const Key& a, const Key& b) {
    return std::memcmp(&a, &b, sizeof(Key)) < 0;
  };
  auto equal = [](const Key& a, const Key& b) {
    return std::memcmp(&a, &b, sizeof(Key)) == 0;
  };
  std::sort(keys.begin(), keys.end(), less);
  keys.erase(std::unique(keys.begin(), keys.end(), equal), keys.end());
  std::vector<Value> per_cpu(ncpus);
  for (const Key& k : keys) {
    if (bpf_map_lookup_elem(fd, &k, per_cpu.data()) != 0) {
      if (errno == ENOENT) continue;  // deleted meanwhile
      return Errno(absl::StrCat("reading BPF map ", bpf_map__name(map)), errno);
    }
    Value total{};
    for (const Value& cpu : per_cpu) AddCpu(total, cpu);
    visit(k, total);
  }
  return absl::OkStatus();
}

absl::Status DeleteKey(const bpf_map* map, const void* key) {
  if (bpf_map_delete_elem(bpf_map__fd(map), key) != 0 && errno != ENOENT) {
    return Errno(absl::StrCat("deleting from BPF map ", bpf_map__name(map)),
                 errno);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Programs::WalkConnections(
    const tcpq_conn_filter& filter,
    absl::FunctionRef<void(std::span<const uint8_t>)> chunk) {
  skel_->bss->conn_filter = filter;
  // The kernel fills at most 8 pages per read() of a BPF iterator.
  std::vector<uint8_t> buffer(64 * 1024);
  return WalkSockets(TCPQ_HOOK_CONNECTIONS, buffer, chunk).status();
}

namespace {

// Moves every entry of a hash map into `out` and deletes it, a few thousand
// per system call.
template <typename Key, typename Value>
absl::Status Drain(const bpf_map* map,
                   std::vector<std::pair<Key, Value>>& out) {
  const int fd = bpf_map__fd(map);
  constexpr uint32_t kBatch = 4096;
  std::vector<Key> keys(kBatch);
  std::vector<Value> values(kBatch);
  uint32_t in_batch = 0, out_batch = 0;
  bool first = true;
  while (true) {
    uint32_t count = kBatch;
    const int err = bpf_map_lookup_and_delete_batch(
        fd, first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(),
        &count, nullptr);
    const int saved = errno;
    for (uint32_t i = 0; i < count && i < kBatch; ++i) {
      out.emplace_back(keys[i], values[i]);
    }
    if (err != 0) {
      if (saved == ENOENT) return absl::OkStatus();  // the end
      return Errno(absl::StrCat("draining BPF map ", bpf_map__name(map)),
                   saved);
    }
    in_batch = out_batch;
    first = false;
  }
}

}  // namespace

absl::StatusOr<WalkAggregates> Programs::WalkAggregated(
    const std::vector<uint16_t>& listening_ports) {
  if (!can_walk(TCPQ_HOOK_WALK)) {
    return absl::FailedPreconditionError(
        absl::StrCat(HookName(TCPQ_HOOK_WALK), " is not attached"));
  }
  std::memset(skel_->bss->walk_port_bits, 0,
              sizeof(skel_->bss->walk_port_bits));
  for (const uint16_t port : listening_ports) {
    skel_->bss->walk_port_bits[port >> 3] |=
        static_cast<uint8_t>(1u << (port & 7));
  }

  WalkAggregates result;
  skel_->bss->walk_seen = 0;
  std::memset(skel_->bss->walk_slots, 0, sizeof(skel_->bss->walk_slots));
  // A new number, never 0 (a new storage's): every socket is uncounted.
  if (++walk_pass_ == 0) walk_pass_ = 1;
  skel_->bss->walk_current_pass = walk_pass_;
  skel_->bss->walk_test_filler = walk_read_size_ > 0;
  std::vector<uint8_t> buffer(walk_read_size_ > 0 ? walk_read_size_
                                                  : 64 * 1024);
  // A walk the kernel stopped resumed by position: sockets inserted before
  // that position made it count some twice (walk_sockets skips them now),
  // and sockets deleted there made it skip as many. Walking again counts
  // the skipped ones (and sockets new since): until a walk runs without a
  // stop or finds nothing more, three walks at most (beyond a million
  // sockets every walk stops).
  constexpr int kMaxWalks = 3;
  absl::Status walked;
  while (result.walks < kMaxWalks) {
    const uint64_t seen = skel_->bss->walk_seen;
    absl::StatusOr<uint64_t> stops =
        WalkSockets(TCPQ_HOOK_WALK, std::span<uint8_t>(buffer),
                    [](std::span<const uint8_t>) {});  // filler only
    ++result.walks;
    if (!stops.ok()) {
      walked = stops.status();
      break;
    }
    result.stops += *stops;
    if (*stops == 0 || (result.walks > 1 && skel_->bss->walk_seen == seen)) {
      break;
    }
  }
  result.sockets = skel_->bss->walk_seen;
  for (const tcpq_walk_slot& slot : skel_->bss->walk_slots) {
    if (!slot.used) continue;
    for (uint32_t state = 1; state < TCPQ_STATES; ++state) {
      if (slot.oldest[state] != 0) {
        result.oldest.push_back({{slot.netns, state}, slot.oldest[state]});
      }
    }
  }
  // Drained even after a failed walk: the next pass starts empty.
  absl::Status drained = Drain(skel_->maps.walk_listeners, result.listeners);
  if (absl::Status s = Drain(skel_->maps.walk_oldest, result.oldest);
      drained.ok()) {
    drained = s;
  }
  if (absl::Status s = Drain(skel_->maps.walk_queued, result.queued);
      drained.ok()) {
    drained = s;
  }
  if (absl::Status s = Drain(skel_->maps.walk_peers, result.peers);
      drained.ok()) {
    drained = s;
  }
  if (!walked.ok()) return walked;
  if (!drained.ok()) return drained;
  return result;
}

absl::Status Programs::ReadNetnsStats(
    absl::FunctionRef<void(uint32_t netns, const tcpq_netns_stats&)> visit) {
  return ReadPerCpuHash<__u32, tcpq_netns_stats>(
      skel_->maps.netns_stats, ncpus_,
      [&](const __u32& netns, const tcpq_netns_stats& s) { visit(netns, s); });
}

absl::Status Programs::DeleteNetnsStats(uint32_t netns) {
  return DeleteKey(skel_->maps.netns_stats, &netns);
}

absl::Status Programs::ReadSynack(
    absl::FunctionRef<void(const tcpq_synack_key&, uint64_t)> visit) {
  return ReadPerCpuHash<tcpq_synack_key, __u64>(
      skel_->maps.synack_retransmits, ncpus_,
      [&](const tcpq_synack_key& key, const __u64& count) {
        visit(key, count);
      });
}

absl::Status Programs::DeleteSynack(const tcpq_synack_key& key) {
  return DeleteKey(skel_->maps.synack_retransmits, &key);
}

absl::Status Programs::ReadNetnsHists(
    absl::FunctionRef<void(const tcpq_hist_key&, const tcpq_hist&)> visit) {
  return ReadPerCpuHash<tcpq_hist_key, tcpq_hist>(skel_->maps.netns_hists,
                                                  ncpus_, visit);
}

absl::Status Programs::DeleteNetnsHist(const tcpq_hist_key& key) {
  return DeleteKey(skel_->maps.netns_hists, &key);
}

absl::Status Programs::ReadHist(uint32_t index, tcpq_hist& out) {
  std::vector<tcpq_hist> per_cpu(ncpus_);
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.hists), &index,
                          per_cpu.data()) != 0) {
    return Errno("reading BPF map hists", errno);
  }
  out = tcpq_hist{};
  for (const tcpq_hist& cpu : per_cpu) AddCpu(out, cpu);
  return absl::OkStatus();
}

absl::StatusOr<std::array<uint64_t, TCPQ_MAPS>> Programs::ReadMapFailures() {
  std::array<uint64_t, TCPQ_MAPS> failures{};
  std::vector<uint64_t> per_cpu(ncpus_);
  const int fd = bpf_map__fd(skel_->maps.map_failures);
  for (uint32_t map = 0; map < TCPQ_MAPS; ++map) {
    if (bpf_map_lookup_elem(fd, &map, per_cpu.data()) != 0) {
      return Errno("reading BPF map map_failures", errno);
    }
    for (uint64_t cpu : per_cpu) failures[map] += cpu;
  }
  return failures;
}

}  // namespace tcpq::bpf

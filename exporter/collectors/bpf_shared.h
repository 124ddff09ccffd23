#pragma once

// The BPF programs of the process (bpf/tcpq.bpf.c), loaded once by their
// first user and shared: the bpf collector reads their maps, the sockets
// collector and GET /connections walk the socket storage they keep. One
// storage means one seeding walk per namespace, whoever asks first.

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bpf/loader.h"
#include "exporter/collector.h"
#include "procfs/netns.h"
#include "procfs/unique_fd.h"

namespace tcpq {

class SharedBpf {
 public:
  // Loads the programs on first use, with the options of the bpf
  // collector's flags and test environment (see bpf_collector.cc).
  static SharedBpf& Get();
  // Get(), or null with --no-collector.bpf (which must not load BPF).
  static SharedBpf* GetIfOn();

  bpf::Programs* programs() const { return programs_.get(); }  // null: off
  // Why BPF is off ("BPF is off: <libbpf's reason>").
  const absl::Status& load_error() const { return load_error_; }

  // Seeds the socket storage and gauge of the namespace the calling thread
  // is in (an iter/tcp walk), unless done already; `inode` names it. Any
  // number of callers, concurrently for different namespaces.
  absl::Status SeedOnce(uint64_t inode);
  // Whether read_netns is attached: a collector that read a namespace's
  // files may read it from its tcpq_netns_record from the next scrape on.
  bool CanReadNetns() const {
    return programs_ != nullptr && programs_->can_read_netns();
  }
  // Keeps a socket in the namespace the calling thread is in, with the
  // storage that makes read_netns report that namespace, unless one is kept
  // already; `inode` names it. Like SeedOnce, concurrently for different
  // namespaces. The socket holds the namespace until Retain drops it.
  absl::Status AnchorOnce(uint64_t inode);
  // For Collector::ReadAllNamespaces: one read_netns pass into
  // `snapshot.records` (complete records of every anchored namespace),
  // unless done already this scrape or CanReadNetns() is false.
  absl::Status ReadNetns(NodeSnapshot& snapshot);
  // Forgets the namespaces not in `namespaces` (a scrape's): one seen again
  // is seeded again, which is harmless (the walk skips counted sockets), and
  // an inode number reused by a new namespace gets its walk. Their anchors
  // are closed, which lets the kernel free them.
  void Retain(const std::vector<procfs::Netns>& namespaces);
  // The namespaces seeded so far: every full socket of theirs has storage.
  absl::flat_hash_set<uint64_t> Seeded() const;

 private:
  SharedBpf();

  std::unique_ptr<bpf::Programs> programs_;
  absl::Status load_error_;
  mutable absl::Mutex mutex_;
  absl::flat_hash_set<uint64_t> seeded_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<uint64_t, UniqueFd> anchors_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tcpq

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

// The same few files read in every network namespace, scrape after scrape
// (/proc/thread-self/net/netstat, /proc/sys/net/core/somaxconn, ...). Each
// namespace's files are opened inside it once, then re-read with one pread
// each. That more than halves the cost of /proc/net/netstat: opening a /proc
// file costs 5-19 µs, and a fresh /proc/net/netstat over 4 KiB is formatted
// twice, because the kernel's first buffer is one 4 KiB page
// (build/bench/proc_read_bench: 95-127 µs fresh, 43-52 µs kept).
//
// An open /proc/net file holds a reference on its namespace; /proc/sys files
// do not, and read ENOENT once the namespace is gone. Files of namespaces a
// scrape did not read are closed at its end (EndScrape), so a namespace that
// goes away is held at most until the next scrape, and only namespaces that
// existed at the last scrape are ever held.
//
// Different namespaces may be read concurrently, from different threads; one
// namespace is read by one thread at a time (a scrape visits it once).
class NamespaceFiles {
 public:
  // Every file is read whole with one pread of up to `max_size` bytes: true
  // of the kernel's single-record files (a sysctl, netstat, snmp, sockstat),
  // which it formats whole on the first read. A file that fills `max_size`
  // is an error, never silently cut short.
  NamespaceFiles(std::vector<std::string> paths, size_t max_size);

  // Called inside namespace `inode` (from a namespace visit): reads every
  // file, then calls `use(i, content)` for each path i the kernel has, in
  // order. A file the kernel lacks (ENOENT at open) is skipped. `content`
  // is valid during the call only.
  using UseFn = absl::FunctionRef<absl::Status(size_t, absl::string_view)>;
  absl::Status Read(uint64_t inode, UseFn use);

  // Closes the files of every namespace not Read since the last EndScrape.
  // Not concurrently with Read.
  void EndScrape();

 private:
  struct Opened {
    std::vector<UniqueFd> fds;  // invalid: the kernel lacks that file
    bool read_this_scrape = false;
  };

  absl::StatusOr<Opened> Open() const;
  // Fills slice i of `scratch` with file i; returns each file's length.
  absl::StatusOr<std::vector<size_t>> ReadAll(const Opened& opened,
                                              std::string& scratch) const;

  const std::vector<std::string> paths_;
  const size_t max_size_;
  absl::Mutex mutex_;
  // By netns inode. An entry is used by the one thread reading its
  // namespace; the map itself is shared.
  absl::flat_hash_map<uint64_t, std::unique_ptr<Opened>> opened_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace tcpq::procfs

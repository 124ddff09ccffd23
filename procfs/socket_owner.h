#pragma once

// Which process holds a socket: the lowest PID with a file descriptor on it,
// found through <procfs>/<pid>/fd/* links ("socket:[<inode>]").

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "procfs/cgroup.h"

namespace tcpq::procfs {

// The inode of a socket fd's link text, "socket:[12345]"; nullopt for any
// other link (files, pipes, anon inodes).
std::optional<uint64_t> ParseSocketLink(absl::string_view link);

struct SocketHolders {
  absl::flat_hash_map<uint64_t, int> pid_of;  // socket inode -> lowest PID
  // The first fd directory that could not be read for another reason than
  // the process exiting (EACCES without CAP_SYS_PTRACE): holders may be
  // missing.
  absl::Status error;
};

// For each of `inodes`, the lowest of `pids` (ascending) holding it. Reads
// the fds of one PID after the other and stops once every inode is found.
SocketHolders FindSocketHolders(const std::string& procfs,
                                std::span<const int> pids,
                                const absl::flat_hash_set<uint64_t>& inodes);

struct ProcessIdentity {
  int pid = 0;
  std::string comm;  // /proc/<pid>/comm without the newline
  CgroupIdentity cgroup;
  bool operator==(const ProcessIdentity&) const = default;
};

// The command name and cgroup identity of a process.
absl::StatusOr<ProcessIdentity> ReadProcessIdentity(const std::string& procfs,
                                                    int pid);

// The processes of <procfs> whose network namespace is `netns_inode`,
// ascending.
std::vector<int> PidsInNetns(const std::string& procfs, uint64_t netns_inode);

// The owners of one network namespace's sockets, kept from scrape to scrape:
// a socket is looked up (its namespace's fds read) only when it is new, when
// its owner left the namespace, or, if no holder was found, when the
// namespace gained processes since.
class SocketOwners {
 public:
  // Brings the owners of `inodes` (the namespace's sockets now) up to date
  // and forgets the others. `pids`: the namespace's processes, ascending, if
  // known (else they are listed from <procfs> when needed). An error means
  // some owners may be unknown; the rest are still up to date.
  absl::Status Update(const std::string& procfs, uint64_t netns_inode,
                      std::span<const int> pids,
                      const std::vector<uint64_t>& inodes);

  // The owner of a socket, or nullptr when unknown.
  const ProcessIdentity* Owner(uint64_t inode) const;

 private:
  struct Entry {
    std::optional<ProcessIdentity> owner;  // nullopt: no holder found
    size_t pids_seen = 0;  // the namespace's processes when looked up
  };
  absl::flat_hash_map<uint64_t, Entry> entries_;  // by socket inode
};

}  // namespace tcpq::procfs

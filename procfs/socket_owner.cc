#include "procfs/socket_owner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "procfs/proc_file.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};

}  // namespace

std::optional<uint64_t> ParseSocketLink(absl::string_view link) {
  if (!absl::ConsumePrefix(&link, "socket:[") ||
      !absl::ConsumeSuffix(&link, "]") || link.empty()) {
    return std::nullopt;
  }
  for (char c : link) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)))
      return std::nullopt;
  }
  uint64_t inode;
  if (!absl::SimpleAtoi(link, &inode)) return std::nullopt;
  return inode;
}

SocketHolders FindSocketHolders(const std::string& procfs,
                                std::span<const int> pids,
                                const absl::flat_hash_set<uint64_t>& inodes) {
  SocketHolders holders;
  for (int pid : pids) {
    if (holders.pid_of.size() == inodes.size()) break;
    const std::string dir = absl::StrCat(procfs, "/", pid, "/fd");
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd.valid()) {
      // A process that exited meanwhile is not an error.
      if (errno != ENOENT && errno != ESRCH && holders.error.ok()) {
        holders.error = absl::ErrnoToStatus(errno, absl::StrCat("open ", dir));
      }
      continue;
    }
    std::unique_ptr<DIR, DirCloser> listing(::fdopendir(dir_fd.get()));
    if (listing == nullptr) continue;
    const int dir_fd_number = dir_fd.Release();  // `listing` closes it
    while (const dirent* entry = ::readdir(listing.get())) {
      if (entry->d_name[0] == '.') continue;
      char link[64];
      const ssize_t n =
          ::readlinkat(dir_fd_number, entry->d_name, link, sizeof(link));
      if (n <= 0 || static_cast<size_t>(n) >= sizeof(link)) continue;
      const std::optional<uint64_t> inode =
          ParseSocketLink(absl::string_view(link, static_cast<size_t>(n)));
      if (inode && inodes.contains(*inode))
        holders.pid_of.try_emplace(*inode, pid);
    }
  }
  return holders;
}

absl::StatusOr<ProcessIdentity> ReadProcessIdentity(const std::string& procfs,
                                                    int pid) {
  const std::string base = absl::StrCat(procfs, "/", pid);
  absl::StatusOr<std::string> comm = ReadFile(base + "/comm");
  if (!comm.ok()) return comm.status();
  absl::StatusOr<std::string> cgroup = ReadFile(base + "/cgroup");
  if (!cgroup.ok()) return cgroup.status();
  ProcessIdentity identity;
  identity.pid = pid;
  identity.comm = std::string(absl::StripTrailingAsciiWhitespace(*comm));
  identity.cgroup = ParseCgroup(*cgroup);
  return identity;
}

std::vector<int> PidsInNetns(const std::string& procfs, uint64_t netns_inode) {
  std::vector<int> pids;
  std::unique_ptr<DIR, DirCloser> dir(::opendir(procfs.c_str()));
  if (dir == nullptr) return pids;
  while (const dirent* entry = ::readdir(dir.get())) {
    int pid;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    struct stat st {};
    if (::stat(absl::StrCat(procfs, "/", pid, "/ns/net").c_str(), &st) == 0 &&
        st.st_ino == netns_inode) {
      pids.push_back(pid);
    }
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

absl::Status SocketOwners::Update(const std::string& procfs,
                                  uint64_t netns_inode,
                                  std::span<const int> pids,
                                  const std::vector<uint64_t>& inodes) {
  std::vector<int> listed;
  auto namespace_pids = [&]() -> std::span<const int> {
    if (!pids.empty()) return pids;
    if (listed.empty()) listed = PidsInNetns(procfs, netns_inode);
    return listed;
  };
  // Still there: an owner whose process is still in the namespace.
  auto owner_alive = [&](const ProcessIdentity& owner) {
    if (!pids.empty()) {
      return std::binary_search(pids.begin(), pids.end(), owner.pid);
    }
    struct stat st {};
    return ::stat(absl::StrCat(procfs, "/", owner.pid, "/ns/net").c_str(),
                  &st) == 0 &&
           st.st_ino == netns_inode;
  };

  absl::flat_hash_map<uint64_t, Entry> kept;
  absl::flat_hash_set<uint64_t> wanted;
  for (uint64_t inode : inodes) {
    auto it = entries_.find(inode);
    if (it != entries_.end()) {
      const Entry& entry = it->second;
      const bool current = entry.owner.has_value()
                               ? owner_alive(*entry.owner)
                               : entry.pids_seen >= namespace_pids().size();
      if (current) {
        kept.emplace(inode, entry);
        continue;
      }
    }
    wanted.insert(inode);
  }
  absl::Status status;
  if (!wanted.empty()) {
    const std::span<const int> candidates = namespace_pids();
    SocketHolders holders = FindSocketHolders(procfs, candidates, wanted);
    status = holders.error;
    for (uint64_t inode : wanted) {
      Entry& entry = kept[inode];
      entry.pids_seen = candidates.size();
      auto holder = holders.pid_of.find(inode);
      if (holder == holders.pid_of.end()) continue;
      absl::StatusOr<ProcessIdentity> identity =
          ReadProcessIdentity(procfs, holder->second);
      if (identity.ok()) {
        entry.owner = *std::move(identity);
      } else if (status.ok() && !absl::IsNotFound(identity.status())) {
        status = identity.status();
      }
    }
  }
  entries_ = std::move(kept);
  return status;
}

const ProcessIdentity* SocketOwners::Owner(uint64_t inode) const {
  auto it = entries_.find(inode);
  return it == entries_.end() || !it->second.owner.has_value()
             ? nullptr
             : &*it->second.owner;
}

}  // namespace tcpq::procfs

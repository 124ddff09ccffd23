#include "procfs/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "procfs/cgroup.h"
#include "procfs/proc_file.h"

namespace tcpq::procfs {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

constexpr long kNsfsMagic = 0x6e736673;  // NSFS_MAGIC of <linux/magic.h>

// Opens a namespace file and returns it with its inode, checked on the open
// fd so that a PID reused between stat() and open() cannot mislabel it. Only
// nsfs files qualify: `ip netns add` creates /run/netns/<name> as a plain
// file before it bind-mounts the namespace onto it.
bool OpenNetns(const std::string& path, UniqueFd& fd, uint64_t& inode) {
  UniqueFd opened(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!opened.valid()) return false;
  struct statfs fs;
  if (::fstatfs(opened.get(), &fs) != 0 || fs.f_type != kNsfsMagic)
    return false;
  struct stat st;
  if (::fstat(opened.get(), &st) != 0) return false;
  fd = std::move(opened);
  inode = st.st_ino;
  return true;
}

// Inode of a namespace file without opening it (cheap dedup before open).
bool StatInode(const std::string& path, uint64_t& inode) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  inode = st.st_ino;
  return true;
}

// A process's namespace we may not look at (as opposed to a process that
// exited meanwhile, ENOENT/ESRCH): without CAP_SYS_PTRACE the kernel refuses
// /proc/<pid>/ns/* of processes with more capabilities than ours.
bool Denied() { return errno == EACCES || errno == EPERM; }

class Collection {
 public:
  explicit Collection(DiscoveryCache* cache) : cache_(cache) {}

  // Adds the namespace at `path`, whose stat() said `inode`, unless that
  // inode is known. Returns the one it added, or nullptr when it was known
  // already or vanished.
  Netns* AddNew(const std::string& path, uint64_t inode) {
    if (index_.contains(inode)) return nullptr;
    Netns ns;
    if (!Handle(path, inode, ns.fd, ns.identity.inode)) {
      denied_ += Denied();
      return nullptr;
    }
    // A PID reused between stat() and open() may name a known namespace.
    if (index_.contains(ns.identity.inode)) return nullptr;
    index_[ns.identity.inode] = result_.size();
    result_.push_back(std::move(ns));
    return &result_.back();
  }
  Netns* Find(uint64_t inode) {
    auto it = index_.find(inode);
    return it == index_.end() ? nullptr : &result_[it->second];
  }
  void CountDenied() { denied_ += Denied(); }
  int denied() const { return denied_; }
  std::vector<Netns> Take() { return std::move(result_); }

 private:
  // A handle on the namespace at `path`: a copy of the cached one when its
  // stat() said a cached inode, else a new one, which is cached.
  bool Handle(const std::string& path, uint64_t inode, UniqueFd& fd,
              uint64_t& opened_inode) {
    if (cache_ != nullptr) {
      if (auto it = cache_->handles.find(inode); it != cache_->handles.end()) {
        fd = Copy(it->second);
        opened_inode = inode;
        if (fd.valid()) return true;
      }
    }
    if (!OpenNetns(path, fd, opened_inode)) return false;
    if (cache_ != nullptr) {
      if (UniqueFd copy = Copy(fd); copy.valid()) {
        cache_->handles[opened_inode] = std::move(copy);
      }
    }
    return true;
  }
  static UniqueFd Copy(const UniqueFd& fd) {
    return UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  }

  DiscoveryCache* const cache_;
  absl::flat_hash_map<uint64_t, size_t> index_;
  std::vector<Netns> result_;
  int denied_ = 0;
};

}  // namespace

absl::StatusOr<Discovered> DiscoverNamespaces(const DiscoveryOptions& options,
                                              DiscoveryCache* cache) {
  Collection found(cache);
  // The exporter's own namespace, always first and always present.
  if (uint64_t inode; !StatInode("/proc/self/ns/net", inode) ||
                      found.AddNew("/proc/self/ns/net", inode) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot open /proc/self/ns/net: ", std::strerror(errno)));
  }
  if (options.all) {
    DirPtr dir(::opendir(options.procfs.c_str()));
    if (dir == nullptr) {
      return absl::UnavailableError(absl::StrCat("cannot list ", options.procfs,
                                                 ": ", std::strerror(errno)));
    }
    while (struct dirent* entry = ::readdir(dir.get())) {
      int pid;
      if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
      const std::string base = absl::StrCat(options.procfs, "/", pid);
      uint64_t inode;
      if (!StatInode(base + "/ns/net", inode)) {
        found.CountDenied();
        continue;
      }
      if (Netns* known = found.Find(inode); known != nullptr) {
        known->pids.push_back(pid);
        continue;
      }
      Netns* ns = found.AddNew(base + "/ns/net", inode);
      if (ns == nullptr) continue;
      ns->pids.push_back(pid);
      // /proc lists PIDs in ascending order, so this is the namespace's
      // lowest PID: in a pod, the sandbox (pause) process.
      CgroupIdentity pod;
      const auto cached = cache != nullptr
                              ? cache->cgroups.find(inode)
                              : decltype(cache->cgroups)::iterator();
      if (cache != nullptr && cached != cache->cgroups.end() &&
          cached->second.first == pid) {
        pod = cached->second.second;
      } else if (absl::StatusOr<std::string> cgroup =
                     ReadFile(base + "/cgroup");
                 cgroup.ok()) {
        pod = ParseCgroup(*cgroup);
        if (cache != nullptr) cache->cgroups[inode] = {pid, pod};
      }
      ns->identity.pod_uid = std::move(pod.pod_uid);
      ns->identity.container_id = std::move(pod.container_id);
    }
  }
  // Named namespaces: label the ones already found, add the process-less ones.
  if (DirPtr dir(::opendir(options.run_netns.c_str())); dir != nullptr) {
    while (struct dirent* entry = ::readdir(dir.get())) {
      if (entry->d_name[0] == '.') continue;
      const std::string path =
          absl::StrCat(options.run_netns, "/", entry->d_name);
      uint64_t inode;
      if (!StatInode(path, inode)) continue;
      if (options.all) found.AddNew(path, inode);
      Netns* ns = found.Find(inode);
      if (ns != nullptr && ns->identity.name.empty())
        ns->identity.name = entry->d_name;
    }
  }
  Discovered discovered{.namespaces = found.Take(), .denied = found.denied()};
  const std::vector<Netns>& namespaces = discovered.namespaces;
  if (cache != nullptr) {
    absl::flat_hash_set<uint64_t> live;
    for (const Netns& ns : namespaces) live.insert(ns.identity.inode);
    const auto gone = [&](const auto& entry) {
      return !live.contains(entry.first);
    };
    absl::erase_if(cache->handles, gone);
    absl::erase_if(cache->cgroups, gone);
  }
  return discovered;
}

}  // namespace tcpq::procfs

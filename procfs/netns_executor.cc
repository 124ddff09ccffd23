#include "procfs/netns_executor.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tcpq::procfs {
namespace {

uint64_t InodeOf(const UniqueFd& fd) {
  struct stat st {};
  return fd.valid() && ::fstat(fd.get(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

NetnsExecutor::NetnsExecutor()
    : home_(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)),
      home_inode_(InodeOf(home_)),
      current_(home_inode_) {}

absl::Status NetnsExecutor::Enter(const Netns& ns) {
  // Elsewhere, setns would move the caller (an HTTP thread) instead.
  assert(jobs_.IsCurrent());
  // Entering the namespace the thread is in is skipped: setns needs
  // CAP_SYS_ADMIN even then, and without it the exporter still reads its own
  // namespace.
  if (ns.identity.inode == current_) return absl::OkStatus();
  if (::setns(ns.fd.get(), CLONE_NEWNET) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "setns: ", std::strerror(errno),
        errno == EPERM ? " (entering another network namespace needs "
                         "CAP_SYS_ADMIN; --netns=host reads only the "
                         "exporter's own)"
                       : ""));
  }
  current_ = ns.identity.inode;
  return absl::OkStatus();
}

void NetnsExecutor::ReturnHome() {
  // Without a handle of its own namespace (never seen) it stays where it is;
  // discovery fails loudly in that case anyway.
  if (current_ != home_inode_ && home_.valid() &&
      ::setns(home_.get(), CLONE_NEWNET) == 0) {
    current_ = home_inode_;
  }
}

}  // namespace tcpq::procfs

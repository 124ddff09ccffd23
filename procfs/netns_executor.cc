#include "procfs/netns_executor.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcpq::procfs {

NetnsExecutor::NetnsExecutor()
    : home_(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)),
      thread_([this] { Loop(); }) {}

NetnsExecutor::~NetnsExecutor() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

void NetnsExecutor::ForEach(std::span<const Netns> namespaces, WorkFn work) {
  absl::MutexLock run_lock(&run_mutex_);
  absl::MutexLock lock(&mutex_);
  pending_namespaces_ = namespaces;
  pending_work_ = &work;
  job_done_ = false;
  has_job_ = true;
  mutex_.Await(absl::Condition(&job_done_));
}

void NetnsExecutor::Loop() {
  // Namespace inodes: where the thread is, and where it started. Entering the
  // namespace it is in is skipped: setns needs CAP_SYS_ADMIN even then, and
  // without it the exporter still reads its own namespace.
  struct stat st {};
  const uint64_t home =
      home_.valid() && ::fstat(home_.get(), &st) == 0 ? st.st_ino : 0;
  uint64_t current = home;
  while (true) {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](NetnsExecutor* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mutex_) {
          return self->has_job_ || self->stopping_;
        },
        this));
    if (stopping_) return;
    has_job_ = false;
    // The caller blocks on job_done_, so it cannot touch the shared state
    // while the work runs without the lock.
    const std::span<const Netns> namespaces = pending_namespaces_;
    const WorkFn* work = pending_work_;
    mutex_.Unlock();
    for (size_t i = 0; i < namespaces.size(); ++i) {
      const Netns& ns = namespaces[i];
      absl::Status entered;
      if (ns.identity.inode != current) {
        if (::setns(ns.fd.get(), CLONE_NEWNET) == 0) {
          current = ns.identity.inode;
        } else {
          entered = absl::UnavailableError(absl::StrCat(
              "setns: ", std::strerror(errno),
              errno == EPERM ? " (entering another network namespace needs "
                               "CAP_SYS_ADMIN; --netns=host reads only the "
                               "exporter's own)"
                             : ""));
        }
      }
      (*work)(i, entered);
    }
    // Without a handle of its own namespace (never seen) it stays where it
    // is; discovery fails loudly in that case anyway.
    if (current != home && home_.valid() &&
        ::setns(home_.get(), CLONE_NEWNET) == 0) {
      current = home;
    }
    mutex_.Lock();
    job_done_ = true;
  }
}

}  // namespace tcpq::procfs

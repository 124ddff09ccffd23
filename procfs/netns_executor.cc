#include "procfs/netns_executor.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
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

void NetnsExecutor::ForEach(std::span<const int> netns_fds, WorkFn work) {
  absl::MutexLock run_lock(&run_mutex_);
  absl::MutexLock lock(&mutex_);
  pending_fds_ = netns_fds;
  pending_work_ = &work;
  job_done_ = false;
  has_job_ = true;
  mutex_.Await(absl::Condition(&job_done_));
}

void NetnsExecutor::Loop() {
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
    const std::span<const int> fds = pending_fds_;
    const WorkFn* work = pending_work_;
    mutex_.Unlock();
    for (size_t i = 0; i < fds.size(); ++i) {
      absl::Status entered;
      if (::setns(fds[i], CLONE_NEWNET) != 0) {
        entered = absl::UnavailableError(
            absl::StrCat("setns: ", std::strerror(errno)));
      }
      (*work)(i, entered);
    }
    // Without a handle of its own namespace (never seen) it stays where it
    // is; discovery fails loudly in that case anyway.
    if (home_.valid()) ::setns(home_.get(), CLONE_NEWNET);
    mutex_.Lock();
    job_done_ = true;
  }
}

}  // namespace tcpq::procfs

#include "procfs/netns_executor.h"

#include <sched.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tcpq::procfs {

NetnsExecutor::NetnsExecutor() : thread_([this] { Loop(); }) {}

NetnsExecutor::~NetnsExecutor() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  thread_.join();
}

absl::Status NetnsExecutor::RunIn(int netns_fd,
                                  absl::FunctionRef<void()> work) {
  absl::MutexLock run_lock(&run_mutex_);
  absl::MutexLock lock(&mutex_);
  pending_fd_ = netns_fd;
  pending_work_ = &work;
  job_done_ = false;
  has_job_ = true;
  mutex_.Await(absl::Condition(&job_done_));
  return result_;
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
    if (::setns(pending_fd_, CLONE_NEWNET) != 0) {
      result_ =
          absl::UnavailableError(absl::StrCat("setns: ", std::strerror(errno)));
    } else {
      // The caller blocks on job_done_, so it cannot touch the shared state
      // while the work runs without the lock.
      const absl::FunctionRef<void()>* work = pending_work_;
      mutex_.Unlock();
      (*work)();
      mutex_.Lock();
      result_ = absl::OkStatus();
    }
    job_done_ = true;
  }
}

}  // namespace tcpq::procfs

#include "procfs/job_thread.h"

#include <utility>

namespace tcpq::procfs {

JobThread::JobThread() : thread_([this] { Loop(); }) {}

JobThread::~JobThread() {
  {
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(&job_done_));
    stopping_ = true;
  }
  thread_.join();
}

void JobThread::Start(absl::AnyInvocable<void() &&> job) {
  absl::MutexLock lock(&mutex_);
  mutex_.Await(absl::Condition(&job_done_));
  job_ = std::move(job);
  job_done_ = false;
  has_job_ = true;
}

void JobThread::Wait() {
  absl::MutexLock lock(&mutex_);
  mutex_.Await(absl::Condition(&job_done_));
}

void JobThread::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> job;
    {
      absl::MutexLock lock(&mutex_);
      mutex_.Await(absl::Condition(
          +[](JobThread* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mutex_) {
            return self->has_job_ || self->stopping_;
          },
          this));
      if (stopping_) return;
      has_job_ = false;
      job = std::move(job_);
    }
    std::move(job)();
    absl::MutexLock lock(&mutex_);
    job_done_ = true;
  }
}

}  // namespace tcpq::procfs

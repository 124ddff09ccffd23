#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tcpq::procfs {

// A thread of its own that runs the jobs handed to it, one at a time, for as
// long as it lives: for work that must happen on a thread with some state of
// its own (a network namespace, a low priority) or off the caller's stack.
class JobThread {
 public:
  JobThread();
  // Waits for the job running, if any.
  ~JobThread();
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  // Hands `job` to the thread, once the previous job is done, and returns
  // without waiting for it.
  void Start(absl::AnyInvocable<void() &&> job);
  // Blocks until the last job started is done.
  void Wait();
  // Start, then Wait.
  void Run(absl::AnyInvocable<void() &&> job) {
    Start(std::move(job));
    Wait();
  }

  bool IsCurrent() const {
    return std::this_thread::get_id() == thread_.get_id();
  }

 private:
  void Loop();

  absl::Mutex mutex_;
  absl::AnyInvocable<void() &&> job_ ABSL_GUARDED_BY(mutex_);
  bool has_job_ ABSL_GUARDED_BY(mutex_) = false;
  bool job_done_ ABSL_GUARDED_BY(mutex_) = true;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tcpq::procfs

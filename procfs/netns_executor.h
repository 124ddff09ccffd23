#pragma once

#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace tcpq::procfs {

// Runs work inside another network namespace on one dedicated thread.
//
// sock_diag and /proc/sys/net only see the caller's network namespace, and
// setns(2) changes the namespace of the calling thread only. Doing it on a
// thread of our own keeps the HTTP threads in the exporter's namespace, and
// reusing that one thread makes each switch cost a few microseconds.
class NetnsExecutor {
 public:
  NetnsExecutor();
  ~NetnsExecutor();
  NetnsExecutor(const NetnsExecutor&) = delete;
  NetnsExecutor& operator=(const NetnsExecutor&) = delete;

  // Enters the namespace behind `netns_fd` on the dedicated thread and runs
  // `work` there, blocking until it is done. Error when setns fails; `work`
  // does not run then. Paths under /proc/thread-self/net and /proc/sys/net
  // read inside `work` describe that namespace.
  absl::Status RunIn(int netns_fd, absl::FunctionRef<void()> work);

 private:
  void Loop();

  absl::Mutex run_mutex_;  // one RunIn at a time
  absl::Mutex mutex_;
  int pending_fd_ ABSL_GUARDED_BY(mutex_) = -1;
  const absl::FunctionRef<void()>* pending_work_ ABSL_GUARDED_BY(mutex_) =
      nullptr;
  bool has_job_ ABSL_GUARDED_BY(mutex_) = false;
  bool job_done_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Status result_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace tcpq::procfs

#pragma once

#include <cstddef>
#include <span>
#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "procfs/netns.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

// Runs work inside another network namespace on one dedicated thread.
//
// sock_diag and /proc/sys/net only see the caller's network namespace, and
// setns(2) changes the namespace of the calling thread only. Doing it on a
// thread of our own keeps the HTTP threads in the exporter's namespace, and
// reusing that one thread makes each switch cost a few microseconds. A whole
// list of namespaces is handed over at once: on a virtual machine the two
// context switches of a hand-off cost more than the setns itself.
class NetnsExecutor {
 public:
  NetnsExecutor();
  ~NetnsExecutor();
  NetnsExecutor(const NetnsExecutor&) = delete;
  NetnsExecutor& operator=(const NetnsExecutor&) = delete;

  // On the dedicated thread, enters each of `namespaces` in turn and calls
  // `work(i, entered)` there, blocking until all are done. `entered` is the
  // error of setns into namespaces[i]; when it is not OK the thread is still
  // in the previous namespace and `work` must not read.
  // Paths under /proc/thread-self/net and /proc/sys/net read inside `work`
  // describe namespace i. Afterwards the thread returns to the exporter's
  // own namespace, so that it does not keep the last one alive.
  using WorkFn = absl::FunctionRef<void(size_t, const absl::Status&)>;
  void ForEach(std::span<const Netns> namespaces, WorkFn work);

 private:
  void Loop();

  absl::Mutex run_mutex_;  // one ForEach at a time
  absl::Mutex mutex_;
  std::span<const Netns> pending_namespaces_ ABSL_GUARDED_BY(mutex_);
  const WorkFn* pending_work_ ABSL_GUARDED_BY(mutex_) = nullptr;
  bool has_job_ ABSL_GUARDED_BY(mutex_) = false;
  bool job_done_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // The exporter's own namespace, opened before the thread starts.
  const UniqueFd home_;
  std::thread thread_;
};

}  // namespace tcpq::procfs

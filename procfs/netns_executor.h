#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "procfs/job_thread.h"
#include "procfs/netns.h"
#include "procfs/unique_fd.h"

namespace tcpq::procfs {

// A thread of its own that can enter other network namespaces.
//
// sock_diag and /proc/sys/net only see the caller's network namespace, and
// setns(2) changes the namespace of the calling thread only. Doing it on a
// thread of our own keeps the HTTP threads in the exporter's namespace, and
// reusing the thread from scrape to scrape makes each switch cost a few
// microseconds. Work is handed over in whole jobs (a share of a scrape's
// namespaces, each visited once by every collector): on a virtual machine
// the two context switches of a hand-off cost more than the setns itself.
class NetnsExecutor {
 public:
  NetnsExecutor();
  NetnsExecutor(const NetnsExecutor&) = delete;
  NetnsExecutor& operator=(const NetnsExecutor&) = delete;

  // Runs `job` on the thread and returns at once; Wait() blocks until it is
  // done. One job at a time (JobThread).
  void Start(absl::AnyInvocable<void() &&> job) { jobs_.Start(std::move(job)); }
  void Wait() { jobs_.Wait(); }

  // From a job (on the thread): moves the thread into `ns`. Paths under
  // /proc/thread-self/net and /proc/sys/net then describe `ns`, and sockets
  // it opens belong to `ns`. On error the thread stays where it was and the
  // job must not read. Entering the namespace the thread is in is free.
  absl::Status Enter(const Netns& ns);
  // From a job, when done: back to the exporter's own namespace, so that the
  // thread does not keep the last namespace alive.
  void ReturnHome();

 private:
  // The exporter's own namespace, opened before the thread starts, and its
  // inode; `current_` is where the thread is (touched by the thread only).
  const UniqueFd home_;
  const uint64_t home_inode_;
  uint64_t current_;
  JobThread jobs_;  // last: its thread starts once home_ is open
};

}  // namespace tcpq::procfs

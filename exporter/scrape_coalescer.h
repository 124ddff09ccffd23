#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "procfs/job_thread.h"

namespace tcpq {

// Runs scrapes on a thread of its own, one at a time, and hands each
// scrape's text to every request that was waiting for it:
// - a burst of scrapers (several Prometheus replicas, a dashboard, a
//   careless loop) costs one collection, not one each, serialized;
// - the HTTP workers (hundreds, see http_server.cc) only wait and write, so
//   none of them grows a deep stack or its own malloc caches by collecting.
class ScrapeCoalescer {
 public:
  explicit ScrapeCoalescer(absl::AnyInvocable<std::string()> produce)
      : produce_(std::move(produce)) {}

  // The text of the scrape running when called, or of the next one; shared,
  // never copied (a hundred waiters hold one text).
  std::shared_ptr<const std::string> Get();

  // How many scrapes ran (each call of `produce`).
  uint64_t Scrapes() {
    absl::MutexLock lock(&mu_);
    return generation_;
  }
  int WaitersForTest() {
    absl::MutexLock lock(&mu_);
    return waiters_;
  }

 private:
  // A job of thread_: one scrape, handed to the requests waiting for it.
  void Produce();

  absl::AnyInvocable<std::string()> produce_;
  absl::Mutex mu_;
  absl::CondVar done_;  // generation_ advanced
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // scrapes finished
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;          // in Get()
  // The last scrape's text, while a waiter may still want it.
  std::shared_ptr<const std::string> last_ ABSL_GUARDED_BY(mu_);
  procfs::JobThread thread_;  // last: its jobs use the members above
};

}  // namespace tcpq

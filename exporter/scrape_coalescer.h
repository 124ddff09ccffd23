#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace tcpq {

// Scrapes that arrive while one runs wait for it and get its text: a burst
// of scrapers (several Prometheus replicas, a dashboard refreshing, a
// careless loop) costs one collection, not one each, serialized.
class ScrapeCoalescer {
 public:
  explicit ScrapeCoalescer(absl::AnyInvocable<std::string()> produce)
      : produce_(std::move(produce)) {}

  // The text of the scrape running when called, or of a new one if none
  // runs; shared, never copied (a hundred waiters hold one text).
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
  absl::AnyInvocable<std::string()> produce_;  // called by one thread at once
  absl::Mutex mu_;
  absl::CondVar done_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // scrapes finished
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;          // joined the running scrape
  std::shared_ptr<const std::string> last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tcpq

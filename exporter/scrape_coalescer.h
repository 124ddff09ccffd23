#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "exporter/scrape_text.h"
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
  // never copied (a hundred waiters hold one text). `gzip`: the caller will
  // want the text's gzip encoding, which the scrape's thread then makes
  // before it wakes its waiters (once, not on the first waiter woken while
  // the others wait for it again).
  std::shared_ptr<const ScrapeText> Get(bool gzip = false);

  // How many scrapes ran (each call of `produce`).
  uint64_t Scrapes() const { return scrapes_.load(); }
  int WaitersForTest() const { return waiters_.load(); }

 private:
  // One scrape and the requests waiting for it. They wait on `done` alone,
  // not on a mutex: when the text is there, all of them wake at once and
  // write it at once. (Woken from a condition variable, each would take the
  // mutex again in turn, one context switch after the other: a convoy a
  // hundred scrapers waited through.)
  struct Batch {
    std::shared_ptr<const ScrapeText> text;  // set before done
    std::atomic<bool> gzip{false};           // a waiter wants it
    std::atomic<int> done{0};
  };

  // A job of thread_: the scrape of `batch`, handed to its requests.
  void Produce(const std::shared_ptr<Batch>& batch);

  absl::AnyInvocable<std::string()> produce_;
  absl::Mutex mu_;
  // The scrape running, which a request joins; null: none runs. Only the
  // requests hold a finished one: an idle exporter holds no old text.
  std::shared_ptr<Batch> running_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<int> waiters_{0};    // in Get(), joined to a scrape
  procfs::JobThread gzip_helper_;  // compresses half of a large text
  procfs::JobThread thread_;       // last: its jobs use the members above
};

}  // namespace tcpq

#include "exporter/scrape_coalescer.h"

namespace tcpq {

std::shared_ptr<const std::string> ScrapeCoalescer::Get() {
  {
    absl::MutexLock lock(&mu_);
    if (running_) {
      const uint64_t joined = generation_;
      ++waiters_;
      while (generation_ == joined) done_.Wait(&mu_);
      --waiters_;
      return last_;  // that scrape's, or a later one's
    }
    running_ = true;
  }
  auto text = std::make_shared<const std::string>(produce_());
  absl::MutexLock lock(&mu_);
  // Kept only for waiters: an idle exporter holds no old text.
  last_ = waiters_ > 0 ? text : nullptr;
  ++generation_;
  running_ = false;
  done_.SignalAll();
  return text;
}

}  // namespace tcpq

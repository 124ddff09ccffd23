#include "exporter/scrape_coalescer.h"

namespace tcpq {

std::shared_ptr<const std::string> ScrapeCoalescer::Get() {
  absl::MutexLock lock(&mu_);
  // The running scrape if there is one, else the next, which this starts.
  const uint64_t target = generation_ + 1;
  if (!running_) {
    running_ = true;
    thread_.Start([this] { Produce(); });
  }
  ++waiters_;
  while (generation_ < target) done_.Wait(&mu_);
  --waiters_;
  std::shared_ptr<const std::string> text = last_;
  // An idle exporter holds no old text.
  if (waiters_ == 0) last_.reset();
  return text;
}

void ScrapeCoalescer::Produce() {
  auto text = std::make_shared<const std::string>(produce_());
  absl::MutexLock lock(&mu_);
  last_ = std::move(text);
  ++generation_;
  running_ = false;
  done_.SignalAll();
}

}  // namespace tcpq

#include "exporter/scrape_coalescer.h"

namespace tcpq {

ScrapeCoalescer::ScrapeCoalescer(absl::AnyInvocable<std::string()> produce)
    : produce_(std::move(produce)), thread_([this] { Run(); }) {}

ScrapeCoalescer::~ScrapeCoalescer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    work_.Signal();
  }
  thread_.join();
}

std::shared_ptr<const std::string> ScrapeCoalescer::Get() {
  absl::MutexLock lock(&mu_);
  // The running scrape if there is one, else the next, which this asks for.
  const uint64_t target = generation_ + 1;
  if (!running_ && !requested_) {
    requested_ = true;
    work_.Signal();
  }
  ++waiters_;
  while (generation_ < target) done_.Wait(&mu_);
  --waiters_;
  std::shared_ptr<const std::string> text = last_;
  // An idle exporter holds no old text.
  if (waiters_ == 0) last_.reset();
  return text;
}

void ScrapeCoalescer::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!requested_ && !stop_) work_.Wait(&mu_);
      if (stop_) return;
      requested_ = false;
      running_ = true;
    }
    auto text = std::make_shared<const std::string>(produce_());
    absl::MutexLock lock(&mu_);
    last_ = std::move(text);
    ++generation_;
    running_ = false;
    done_.SignalAll();
  }
}

}  // namespace tcpq

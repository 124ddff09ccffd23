#include "exporter/scrape_coalescer.h"

namespace tcpq {

std::shared_ptr<const ScrapeText> ScrapeCoalescer::Get(bool gzip) {
  std::shared_ptr<Batch> batch;
  {
    absl::MutexLock lock(&mu_);
    // The running scrape if there is one, else the next, which this starts.
    const bool start = running_ == nullptr;
    if (start) running_ = std::make_shared<Batch>();
    // Before the scrape starts if this starts it: a quick scrape would
    // otherwise look before this asked. One joining after the scrape looked
    // compresses on its own (ScrapeText).
    if (gzip) running_->gzip.store(true);
    if (start) thread_.Start([this, batch = running_] { Produce(batch); });
    batch = running_;
  }
  waiters_.fetch_add(1);
  batch->done.wait(0);
  waiters_.fetch_sub(1);
  return batch->text;
}

void ScrapeCoalescer::Produce(const std::shared_ptr<Batch>& batch) {
  batch->text = std::make_shared<const ScrapeText>(produce_());
  if (batch->gzip.load()) batch->text->Gzip(&gzip_helper_);
  {
    absl::MutexLock lock(&mu_);
    // A request from now on starts the next scrape.
    running_.reset();
  }
  scrapes_.fetch_add(1);
  batch->done.store(1);
  batch->done.notify_all();
}

}  // namespace tcpq

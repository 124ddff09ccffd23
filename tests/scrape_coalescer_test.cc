#include "exporter/scrape_coalescer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "procfs/job_thread.h"

namespace tcpq {
namespace {

TEST(ScrapeCoalescerTest, ALoneCallerScrapesEachTime) {
  int calls = 0;
  ScrapeCoalescer scrapes([&] { return absl::StrCat("scrape ", ++calls); });
  EXPECT_EQ(scrapes.Get()->text(), "scrape 1");
  EXPECT_EQ(scrapes.Get()->text(), "scrape 2");
  EXPECT_EQ(scrapes.Scrapes(), 2u);
}

TEST(ScrapeCoalescerTest, CallersDuringAScrapeShareIt) {
  absl::Notification started, release;
  int calls = 0;
  ScrapeCoalescer scrapes([&] {
    ++calls;
    if (calls == 1) {
      started.Notify();
      release.WaitForNotification();
    }
    return absl::StrCat("scrape ", calls);
  });
  std::string first;
  std::thread runner([&] { first = scrapes.Get()->text(); });
  started.WaitForNotification();
  constexpr int kWaiters = 8;
  std::vector<std::string> texts(kWaiters);
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] { texts[i] = scrapes.Get()->text(); });
  }
  // The runner and the waiters, all waiting for scrape 1.
  while (scrapes.WaitersForTest() < kWaiters + 1) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  release.Notify();
  runner.join();
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(first, "scrape 1");
  for (const std::string& text : texts) EXPECT_EQ(text, "scrape 1");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(scrapes.Scrapes(), 1u);
  // The next caller scrapes anew.
  EXPECT_EQ(scrapes.Get()->text(), "scrape 2");
}

// A waiter that wants gzip has the scrape's thread compress before any
// waiter wakes: the text every waiter gets is already encoded.
TEST(ScrapeCoalescerTest, CompressesBeforeWakingWhenAWaiterWantsGzip) {
  absl::Notification started, release;
  ScrapeCoalescer scrapes([&] {
    started.Notify();
    release.WaitForNotification();
    return std::string(1000, 'x');
  });
  std::shared_ptr<const ScrapeText> plain, gzip;
  std::thread plain_waiter([&] { plain = scrapes.Get(); });
  started.WaitForNotification();
  std::thread gzip_waiter([&] { gzip = scrapes.Get(/*gzip=*/true); });
  while (scrapes.WaitersForTest() < 2) absl::SleepFor(absl::Milliseconds(1));
  release.Notify();
  plain_waiter.join();
  gzip_waiter.join();
  ASSERT_EQ(plain, gzip);  // one scrape, one text
  EXPECT_TRUE(plain->GzipReadyForTest());
  ASSERT_TRUE(plain->Gzip().ok());
  EXPECT_LT(plain->Gzip()->size(), 100u);
}

// A large text is compressed in two halves on two threads (zlib is
// deterministic: the bytes are those of GzipEncode with a helper, which
// differ from one thread's by the flush between the halves).
TEST(ScrapeCoalescerTest, CompressesALargeTextOnTwoThreads) {
  std::string text;
  for (int i = 0; text.size() < 300 * 1024; ++i) {
    absl::StrAppend(&text, "tcpq_x{netns=\"", i, "\"} ", i * 7, "\n");
  }
  ScrapeCoalescer scrapes([&] { return text; });
  const std::shared_ptr<const ScrapeText> scrape = scrapes.Get(/*gzip=*/true);
  ASSERT_TRUE(scrape->GzipReadyForTest());
  procfs::JobThread helper;
  EXPECT_EQ(*scrape->Gzip(), *GzipEncode(text, &helper));
}

// Without such a waiter nothing is compressed.
TEST(ScrapeCoalescerTest, CompressesNothingNobodyAsksFor) {
  ScrapeCoalescer scrapes([] { return std::string(1000, 'x'); });
  EXPECT_FALSE(scrapes.Get()->GzipReadyForTest());
}

}  // namespace
}  // namespace tcpq

#include "exporter/scrape_coalescer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace tcpq {
namespace {

TEST(ScrapeCoalescerTest, ALoneCallerScrapesEachTime) {
  int calls = 0;
  ScrapeCoalescer scrapes([&] { return absl::StrCat("scrape ", ++calls); });
  EXPECT_EQ(*scrapes.Get(), "scrape 1");
  EXPECT_EQ(*scrapes.Get(), "scrape 2");
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
  std::thread runner([&] { first = *scrapes.Get(); });
  started.WaitForNotification();
  constexpr int kWaiters = 8;
  std::vector<std::string> texts(kWaiters);
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] { texts[i] = *scrapes.Get(); });
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
  EXPECT_EQ(*scrapes.Get(), "scrape 2");
}

}  // namespace
}  // namespace tcpq

#include "procfs/job_thread.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"

namespace tcpq::procfs {
namespace {

TEST(JobThreadTest, JobsRunOnItsThreadInOrder) {
  JobThread jobs;
  std::vector<int> order;
  std::thread::id ran_on;
  bool current = false;
  jobs.Run([&] {
    ran_on = std::this_thread::get_id();
    current = jobs.IsCurrent();
    order.push_back(1);
  });
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(current);
  EXPECT_FALSE(jobs.IsCurrent());
  // A second Start waits for the first job: they never overlap.
  absl::Notification release;
  jobs.Start([&] {
    release.WaitForNotification();
    order.push_back(2);
  });
  std::thread releaser([&] { release.Notify(); });
  jobs.Start([&] { order.push_back(3); });
  jobs.Wait();
  releaser.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace tcpq::procfs

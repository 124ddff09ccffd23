// GoogleTest's main, plus the CI rule of scripts/test.sh: with CI=true a
// skipped test (GTEST_SKIP) fails, naming why it skipped. CI installs
// everything the tests need, so a skip there hides a broken machine.

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace {

class SkipFailsInCi : public testing::EmptyTestEventListener {
  // Failures may be added in OnTestEnd (GoogleTest's own leak-checker sample
  // does): the test then reports FAILED instead of SKIPPED.
  void OnTestEnd(const testing::TestInfo& info) override {
    const testing::TestResult& result = *info.result();
    if (!result.Skipped()) return;
    std::string reasons;
    for (int i = 0; i < result.total_part_count(); ++i) {
      const testing::TestPartResult& part = result.GetTestPartResult(i);
      if (part.skipped()) reasons += part.message();
    }
    ADD_FAILURE() << "CI=true forbids skipping: " << reasons;
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    testing::UnitTest::GetInstance()->listeners().Append(new SkipFailsInCi);
  }
  return RUN_ALL_TESTS();
}

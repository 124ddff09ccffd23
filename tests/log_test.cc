#include "exporter/log.h"

#include <gtest/gtest.h>

namespace tcpq::log {
namespace {

TEST(LogTest, FormatsLogfmtWithQuotingOnlyWhereNeeded) {
  EXPECT_EQ(Format(Level::kInfo, "listening", {{"address", ":9715"}}),
            "level=info msg=listening address=:9715");
  EXPECT_EQ(Format(Level::kWarn, "collector failed",
                   {{"collector", "sockdiag"},
                    {"err", "netns 4026531840: \"x\"\nnext"}}),
            "level=warn msg=\"collector failed\" collector=sockdiag "
            "err=\"netns 4026531840: \\\"x\\\"\\nnext\"");
  EXPECT_EQ(Format(Level::kError, "e", {{"empty", ""}, {"eq", "a=b"}}),
            "level=error msg=e empty=\"\" eq=\"a=b\"");
}

TEST(LogTest, ParsesLevels) {
  Level level = Level::kInfo;
  EXPECT_TRUE(ParseLevel("debug", level));
  EXPECT_EQ(level, Level::kDebug);
  EXPECT_TRUE(ParseLevel("error", level));
  EXPECT_EQ(level, Level::kError);
  EXPECT_FALSE(ParseLevel("verbose", level));
  EXPECT_EQ(level, Level::kError);
}

}  // namespace
}  // namespace tcpq::log

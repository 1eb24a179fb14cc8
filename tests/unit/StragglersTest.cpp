#include "train/Stragglers.h"

#include <gtest/gtest.h>

namespace ringtrain::train {
namespace {

TEST(Stragglers, TheSlowestRankAgainstTheMedian) {
  const Slowest odd = slowestOf({0.010, 0.030, 0.012});
  EXPECT_EQ(odd.rank, 1);
  EXPECT_DOUBLE_EQ(odd.seconds, 0.030);
  EXPECT_DOUBLE_EQ(odd.medianSeconds, 0.012);
  // An even count: the mean of the middle two.
  const Slowest even = slowestOf({0.010, 0.020, 0.040, 0.030});
  EXPECT_EQ(even.rank, 2);
  EXPECT_DOUBLE_EQ(even.medianSeconds, 0.025);
  // Equals: the lowest rank.
  EXPECT_EQ(slowestOf({0.5, 0.5, 0.2}).rank, 0);
  EXPECT_EQ(slowestOf({0.2}).rank, 0);
}

// Windows where `rank` is slowest, `share` above the median.
Slowest behindBy(int rank, double share) {
  return {rank, 0.010 * (1 + share), 0.010};
}

TEST(Stragglers, AWarningAfterThreeWindowsInARowOnce) {
  StragglerStreak streak;
  EXPECT_FALSE(streak.record(behindBy(2, 0.5)));
  EXPECT_FALSE(streak.record(behindBy(2, 0.5)));
  EXPECT_TRUE(streak.record(behindBy(2, 0.5)));
  EXPECT_FALSE(streak.record(behindBy(2, 0.5)));  // once
}

TEST(Stragglers, AStreakEndsWithAnotherRankOrAWindowWithinTheMargin) {
  StragglerStreak another;
  EXPECT_FALSE(another.record(behindBy(2, 0.5)));
  EXPECT_FALSE(another.record(behindBy(2, 0.5)));
  EXPECT_FALSE(another.record(behindBy(1, 0.5)));  // rank 1 starts its own
  EXPECT_FALSE(another.record(behindBy(1, 0.5)));
  EXPECT_TRUE(another.record(behindBy(1, 0.5)));

  StragglerStreak close;
  EXPECT_FALSE(close.record(behindBy(2, 0.5)));
  EXPECT_FALSE(close.record(behindBy(2, 0.5)));
  EXPECT_FALSE(close.record(behindBy(2, kStragglerShare / 2)));  // slowest, but not by enough
  EXPECT_FALSE(close.record(behindBy(2, 0.5)));
  EXPECT_FALSE(close.record(behindBy(2, 0.5)));
  EXPECT_TRUE(close.record(behindBy(2, 0.5)));
  // A median of nothing says nothing.
  StragglerStreak idle;
  for (int window = 0; window < 5; ++window) EXPECT_FALSE(idle.record({1, 0.010, 0}));
}

}  // namespace
}  // namespace ringtrain::train

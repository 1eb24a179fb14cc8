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

}  // namespace
}  // namespace ringtrain::train

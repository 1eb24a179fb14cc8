#include <gtest/gtest.h>

#include "ddp/Reducer.h"
#include "platform/Placement.h"

namespace ringtrain {
namespace {

TEST(OverlapDecision, AutoNeedsAGpuOrASpareCore) {
  using ddp::OverlapMode;
  EXPECT_TRUE(ddp::overlapPays(OverlapMode::kAuto, /*onGpu=*/true, 0));
  EXPECT_FALSE(ddp::overlapPays(OverlapMode::kAuto, false, 0));
  EXPECT_TRUE(ddp::overlapPays(OverlapMode::kAuto, false, 1));
  EXPECT_TRUE(ddp::overlapPays(OverlapMode::kOn, false, 0));
  EXPECT_FALSE(ddp::overlapPays(OverlapMode::kOff, true, 4));
}

// The cores a rank's threads leave free, worked out by hand for hosts of a given size.
TEST(OverlapDecision, SpareCoresAreWhatTheRanksThreadsLeave) {
  // 8 cores, 2 ranks of 1 thread: 6 free, 3 for each rank's communication thread.
  EXPECT_EQ(platform::cpuShare(8, 8, 2, 1).spareCoresPerRank, 3);
  // 8 cores, 2 ranks of 4 threads, or 3 ranks of 3: none (not a negative count).
  EXPECT_EQ(platform::cpuShare(8, 8, 2, 4).spareCoresPerRank, 0);
  EXPECT_EQ(platform::cpuShare(8, 8, 3, 3).spareCoresPerRank, 0);
  // 16 cores, 4 ranks of 2 threads: 8 free, 2 each, so overlap pays on the CPU.
  EXPECT_EQ(platform::cpuShare(16, 16, 4, 2).spareCoresPerRank, 2);
  EXPECT_TRUE(ddp::overlapPays(ddp::OverlapMode::kAuto, false,
                               platform::cpuShare(16, 16, 4, 2).spareCoresPerRank));
  // Bound to 2 of 8 cores with 1 thread: the other core of its set is free.
  EXPECT_EQ(platform::cpuShare(8, 2, 1, 1).spareCoresPerRank, 1);
  // Automatic threads take a rank's whole share: nothing is spare, and overlap does not pay.
  EXPECT_EQ(platform::cpuShare(8, 8, 2, 0).spareCoresPerRank, 0);
  EXPECT_FALSE(ddp::overlapPays(ddp::OverlapMode::kAuto, false,
                                platform::cpuShare(8, 8, 2, 0).spareCoresPerRank));
}

}  // namespace
}  // namespace ringtrain

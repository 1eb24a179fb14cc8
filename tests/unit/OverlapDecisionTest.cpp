#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "ringtrain/ddp/Reducer.h"
#include "ringtrain/platform/Placement.h"

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

TEST(OverlapDecision, SpareCoresAreWhatTheRanksThreadsLeave) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int localSize : {1, 2, 3}) {
    for (int threads : {1, 2}) {
      comm::Topology topology;
      topology.size = topology.localSize = localSize;
      const platform::Placement placement =
          platform::placeRank("cpu", "auto", topology, threads, false);
      EXPECT_EQ(placement.spareCoresPerRank, std::max(0, cores - threads * localSize) / localSize)
          << localSize << " rank(s) x " << threads << " thread(s) on " << cores << " cores";
    }
  }
}

}  // namespace
}  // namespace ringtrain

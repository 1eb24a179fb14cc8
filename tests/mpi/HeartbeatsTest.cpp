// Heartbeats among live ranks (health/Heartbeats.h): no alarm while every rank beats, nor when
// the ranks leave at different times, each saying goodbye. That a dead or frozen rank is found,
// and named, is tested end to end with real signals (tests/integration/test_liveness.py).
#include "health/Heartbeats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "MpiTestEnvironment.h"

namespace ringtrain::health {
namespace {

using std::chrono::milliseconds;

comm::Communicator& world() {
  return testing::worldCommunicator();
}

TEST(Heartbeats, LiveRanksRaiseNoAlarm) {
  std::atomic<int> alarms{0};
  {
    const Heartbeats heartbeats(world(), milliseconds(500),
                                [&](const std::vector<LostRank>&) { ++alarms; });
    EXPECT_EQ(heartbeats.watching(), world().size() > 1);
    EXPECT_EQ(heartbeats.problem(), "");
    std::this_thread::sleep_for(milliseconds(1500));
    world().barrier();
  }
  EXPECT_EQ(alarms.load(), 0);
}

TEST(Heartbeats, RanksLeavingAtDifferentTimesRaiseNoAlarm) {
  // Rank 0 first, then each rank a timeout and more after the one before.
  for (const bool rankZeroFirst : {true, false}) {
    std::atomic<int> alarms{0};
    {
      const Heartbeats heartbeats(world(), milliseconds(500),
                                  [&](const std::vector<LostRank>&) { ++alarms; });
      const int order = rankZeroFirst ? world().rank() : world().size() - 1 - world().rank();
      std::this_thread::sleep_for(milliseconds(700) * order);
    }
    world().barrier();
    EXPECT_EQ(alarms.load(), 0) << (rankZeroFirst ? "rank 0 first" : "rank 0 last");
  }
}

TEST(Heartbeats, AZeroTimeoutWatchesNothing) {
  const Heartbeats heartbeats(world(), milliseconds(0), [](const std::vector<LostRank>&) {});
  EXPECT_FALSE(heartbeats.watching());
}

}  // namespace
}  // namespace ringtrain::health

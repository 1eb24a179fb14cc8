// Heartbeats among live ranks (health/Heartbeats.h): no alarm while every rank beats, nor when
// ranks leave before others, each saying goodbye. That a dead or frozen rank is found,
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
    const Heartbeats heartbeats(world(), milliseconds(1000),
                                [&](const std::vector<LostRank>&) { ++alarms; });
    EXPECT_EQ(heartbeats.watching(), world().size() > 1);
    EXPECT_EQ(heartbeats.problem(), "");
    std::this_thread::sleep_for(milliseconds(2500));
    world().barrier();
  }
  EXPECT_EQ(alarms.load(), 0);
}

TEST(Heartbeats, RanksLeavingFirstSayGoodbye) {
  // Rank 0 leaves while the others stay longer than the second hub would wait to report it; then
  // the others leave while rank 0 stays longer than it would wait.
  for (const bool rankZeroFirst : {true, false}) {
    std::atomic<int> alarms{0};
    {
      const Heartbeats heartbeats(world(), milliseconds(1000),
                                  [&](const std::vector<LostRank>&) { ++alarms; });
      std::this_thread::sleep_for(milliseconds(300));
      const bool leavesFirst = (world().rank() == 0) == rankZeroFirst;
      if (!leavesFirst) std::this_thread::sleep_for(milliseconds(rankZeroFirst ? 3500 : 2000));
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

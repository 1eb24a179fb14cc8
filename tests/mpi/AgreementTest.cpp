#include "ringtrain/comm/Agreement.h"

#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::comm {
namespace {

Communicator& world() {
  return testing::worldCommunicator();
}

TEST(Agreement, SucceedsWhenEveryRankSucceeds) {
  int calls = 0;
  EXPECT_NO_THROW(runOnAllRanks(world(), [&] { ++calls; }));
  EXPECT_EQ(calls, 1);
}

TEST(Agreement, OneFailingRankFailsEveryRankAndReportsOnce) {
  const int failing = world().size() - 1;
  try {
    runOnAllRanks(world(), [&] {
      if (world().rank() == failing) throw UserError("bad flag on the last rank");
    });
    FAIL() << "rank " << world().rank() << " continued";
  } catch (const CollectiveFailure& failure) {
    EXPECT_EQ(failure.reporter(), world().rank() == failing);
    EXPECT_EQ(failure.exitCode(), 2);
    EXPECT_EQ(std::string(failure.what()),
              world().rank() == failing ? "bad flag on the last rank" : "");
  }
}

TEST(Agreement, TheLowestFailingRankReportsAndItsKindDecidesTheExitCode) {
  const int size = world().size();
  const int lowestFailing = size > 1 ? 1 : 0;
  try {
    runOnAllRanks(world(), [&] {
      if (world().rank() == lowestFailing) throw std::runtime_error("broken");
      if (world().rank() > lowestFailing) throw UserError("also wrong");
    });
    FAIL() << "rank " << world().rank() << " continued";
  } catch (const CollectiveFailure& failure) {
    EXPECT_EQ(failure.reporter(), world().rank() == lowestFailing);
    EXPECT_EQ(failure.exitCode(), 1);
  }
}

}  // namespace
}  // namespace ringtrain::comm

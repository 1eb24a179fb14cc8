#include "ddp/ParameterSync.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "ringtrain/comm/Agreement.h"

namespace ringtrain::ddp {
namespace {

comm::Communicator& world() {
  return testing::worldCommunicator();
}

NamedParameters rankValuedParameters() {
  const double value = world().rank() + 1;
  return {{"a.weight", at::full({3, 5}, value)},
          {"a.bias", at::full({3}, -value)},
          {"b.weight", at::full({1, 7}, 2 * value)}};
}

TEST(ParameterSync, BroadcastGivesEveryRankRankZerosValues) {
  NamedParameters parameters = rankValuedParameters();
  broadcastParameters(world(), parameters);
  EXPECT_TRUE(parameters[0].second.equal(at::full({3, 5}, 1.0f)));
  EXPECT_TRUE(parameters[1].second.equal(at::full({3}, -1.0f)));
  EXPECT_TRUE(parameters[2].second.equal(at::full({1, 7}, 2.0f)));
}

TEST(ParameterSync, IdenticalModelsPassVerification) {
  EXPECT_NO_THROW(verifySameParameters(world(), rankValuedParameters()));
}

TEST(ParameterSync, ADifferentShapeOnOneRankFailsEveryRank) {
  if (world().size() == 1) GTEST_SKIP() << "needs two ranks";
  NamedParameters parameters = rankValuedParameters();
  if (world().rank() == world().size() - 1) parameters[1].second = at::zeros({4});
  try {
    verifySameParameters(world(), parameters);
    FAIL() << "rank " << world().rank() << " continued";
  } catch (const comm::CollectiveFailure& failure) {
    if (failure.reporter()) {
      EXPECT_NE(std::string(failure.what()).find("a.bias[4]"), std::string::npos) << failure.what();
    }
  }
}

}  // namespace
}  // namespace ringtrain::ddp

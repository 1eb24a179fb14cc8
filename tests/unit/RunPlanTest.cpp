// The length of a run from where it starts (src/train/RunPlan.h), independent of any rank.
#include "train/RunPlan.h"

#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

TrainConfig epochs(int64_t count) {
  TrainConfig config;
  config.epochs = count;
  return config;
}

TEST(RunPlan, AFreshRunTrainsEveryEpochWhole) {
  const RunPlan plan = planRun(epochs(3), 0, 0, EpochSteps{10, 10});
  EXPECT_EQ(plan.stepsPerEpoch, 10);
  EXPECT_EQ(plan.totalSteps, 30);
  EXPECT_EQ(plan.epochsToRun, 3);
  EXPECT_EQ(plan.scheduledSteps, 30);
}

TEST(RunPlan, AResumedRunFinishesItsEpochAtThisRunsBatch) {
  // Stopped at step 14 in epoch 1; at this run's world size the epoch has 6 steps left (the
  // checkpoint was written at another one, so 14 + 6 is not a multiple of 10).
  const RunPlan plan = planRun(epochs(3), 1, 14, EpochSteps{10, 6});
  EXPECT_EQ(plan.totalSteps, 14 + 6 + 10);
  EXPECT_EQ(plan.epochsToRun, 3);
  // A checkpoint past the last epoch trains no further.
  EXPECT_EQ(planRun(epochs(3), 3, 30, EpochSteps{10, 10}).totalSteps, 30);
}

TEST(RunPlan, ACheckpointOfALongerRunLiesPastTheEnd) {
  // A 4-epoch run's last checkpoint: epoch 3 read to its end, step 40.
  EXPECT_FALSE(planRun(epochs(4), 3, 40, EpochSteps{10, 0}).startsPastTheEnd);
  EXPECT_FALSE(planRun(epochs(6), 3, 40, EpochSteps{10, 0}).startsPastTheEnd);
  EXPECT_TRUE(planRun(epochs(2), 3, 40, EpochSteps{10, 0}).startsPastTheEnd);
  TrainConfig config = epochs(4);
  config.maxSteps = 30;
  EXPECT_TRUE(planRun(config, 3, 40, EpochSteps{10, 0}).startsPastTheEnd);
  config.maxSteps = 40;
  EXPECT_FALSE(planRun(config, 3, 40, EpochSteps{10, 0}).startsPastTheEnd);
  EXPECT_FALSE(planRun(config, 0, 0, EpochSteps{10, 10}).startsPastTheEnd);
}

TEST(RunPlan, MaxStepsDecidesTheLengthAndTheEpochsThatHoldIt) {
  TrainConfig config = epochs(1);
  config.maxSteps = 25;
  RunPlan plan = planRun(config, 0, 0, EpochSteps{10, 10});
  EXPECT_EQ(plan.totalSteps, 25);
  EXPECT_EQ(plan.epochsToRun, 3);  // 10 + 10 + 5
  plan = planRun(config, 1, 12, EpochSteps{10, 8});
  EXPECT_EQ(plan.epochsToRun, 3);  // the 8 left in epoch 1, then 5 of epoch 2
}

TEST(RunPlan, AStreamRunsItsEpochsOrMaxStepsAndADecayNeedsMaxSteps) {
  TrainConfig config = epochs(2);
  RunPlan plan = planRun(config, 0, 0, std::nullopt);
  EXPECT_EQ(plan.epochsToRun, 2);
  EXPECT_EQ(plan.totalSteps, kUnknownSteps);
  EXPECT_EQ(plan.scheduledSteps, 0);
  config.lrShape = LrShape::kCosine;
  EXPECT_THROW(planRun(config, 0, 0, std::nullopt), UserError);
  config.maxSteps = 40;
  plan = planRun(config, 0, 0, std::nullopt);
  EXPECT_EQ(plan.totalSteps, 40);
  EXPECT_EQ(plan.scheduledSteps, 40);
}

}  // namespace
}  // namespace ringtrain::train

#include "train/LrSchedule.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

TEST(LrSchedule, WarmupRisesLinearlyToTheBase) {
  const LrSchedule schedule{0.4, LrShape::kConstant, 4, 100};
  for (int64_t step = 0; step < 4; ++step) {
    EXPECT_DOUBLE_EQ(learningRateAt(schedule, step), 0.4 * (step + 1) / 4);
  }
  EXPECT_DOUBLE_EQ(learningRateAt(schedule, 4), 0.4);
  EXPECT_DOUBLE_EQ(learningRateAt(schedule, 99), 0.4);
}

TEST(LrSchedule, CosineFollowsHalfACosineAfterWarmup) {
  const LrSchedule schedule{1.0, LrShape::kCosine, 10, 110};
  for (const int64_t step : {10, 35, 60, 85, 110}) {
    const double progress = (step - 10) / 100.0;
    EXPECT_NEAR(learningRateAt(schedule, step), 0.5 * (1 + std::cos(M_PI * progress)), 1e-12);
  }
  EXPECT_NEAR(learningRateAt(schedule, 500), 0.0, 1e-12);
}

TEST(LrSchedule, LinearDecaysToZeroAtTheLastStep) {
  const LrSchedule schedule{0.2, LrShape::kLinear, 0, 50};
  for (const int64_t step : {0, 10, 25, 49, 50}) {
    EXPECT_NEAR(learningRateAt(schedule, step), 0.2 * (1 - step / 50.0), 1e-12);
  }
}

TEST(LrSchedule, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parseLrShape("cosine"), LrShape::kCosine);
  EXPECT_EQ(parseLrShape("linear"), LrShape::kLinear);
  EXPECT_EQ(parseLrShape("constant"), LrShape::kConstant);
  EXPECT_THROW(parseLrShape("step"), UserError);
}

}  // namespace
}  // namespace ringtrain::train

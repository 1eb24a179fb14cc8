#include "train/MixedPrecision.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

namespace ringtrain::train {
namespace {

TEST(LossScaler, HalvesOnOverflowAndDoublesAfterCleanSteps) {
  LossScaling settings;
  settings.initialScale = 1024;
  settings.growthInterval = 3;
  settings.smallestScale = 128;
  LossScaler scaler(true, settings);
  EXPECT_TRUE(scaler.record(true));
  EXPECT_EQ(scaler.scale(), 512);
  for (int step = 0; step < 2; ++step) EXPECT_TRUE(scaler.record(false));
  EXPECT_EQ(scaler.scale(), 512);
  EXPECT_TRUE(scaler.record(false));  // the third clean step in a row
  EXPECT_EQ(scaler.scale(), 1024);
  // An overflow restarts the count of clean steps.
  scaler.record(false);
  scaler.record(true);
  scaler.record(false);
  scaler.record(false);
  EXPECT_EQ(scaler.scale(), 512);
  EXPECT_TRUE(scaler.record(true));   // 256
  EXPECT_TRUE(scaler.record(true));   // 128
  EXPECT_FALSE(scaler.record(true));  // below the smallest: diverged
  EXPECT_EQ(scaler.scale(), 128);
}

TEST(LossScaler, DisabledItScalesByOneAndOnlyCleanStepsUpdate) {
  LossScaler scaler(false, {});
  EXPECT_EQ(scaler.scale(), 1.0);
  EXPECT_TRUE(scaler.record(false));
  EXPECT_FALSE(scaler.record(true));
  at::Tensor weight = at::ones({3}).requires_grad_();
  weight.mutable_grad() = at::full({3}, 4.0);
  scaler.unscale({weight});
  EXPECT_TRUE(weight.grad().equal(at::full({3}, 4.0)));
}

TEST(LossScaler, UnscalesAndRoundTripsItsState) {
  LossScaling settings;
  settings.initialScale = 8;
  LossScaler scaler(true, settings);
  at::Tensor weight = at::ones({5}).requires_grad_();
  weight.mutable_grad() = at::full({5}, 4.0);
  scaler.unscale({weight, at::ones({2}).requires_grad_()});  // one without a gradient
  EXPECT_TRUE(weight.grad().equal(at::full({5}, 0.5)));
  scaler.record(true);
  scaler.record(false);
  LossScaler restored(true, settings);
  restored.restore(scaler.state());
  EXPECT_EQ(restored.state(), scaler.state());
  EXPECT_EQ(restored.scale(), 4);
}

TEST(AutocastScope, RunsTheForwardPassInTheLowerPrecisionAndRestores) {
  const at::Tensor input = at::randn({4, 3});
  const at::Tensor weight = at::randn({2, 3});
  {
    const AutocastScope outer(Precision::kBf16, at::kCPU);
    EXPECT_EQ(at::linear(input, weight).scalar_type(), at::kBFloat16);
    {
      const AutocastScope inner(Precision::kFp16, at::kCPU);
      EXPECT_EQ(at::linear(input, weight).scalar_type(), at::kHalf);
    }
    EXPECT_EQ(at::linear(input, weight).scalar_type(), at::kBFloat16);
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::linear(input, weight).scalar_type(), at::kFloat);
  const AutocastScope fp32(Precision::kFp32, at::kCPU);
  EXPECT_EQ(at::linear(input, weight).scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace ringtrain::train

// The scale standardisation divides by: the standard deviation, or 1 for a feature that is
// constant in the training set (as scikit-learn's StandardScaler), whichever way the statistics
// were computed.
#include "ringtrain/data/Dataset.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {
namespace {

Dataset tableOf(const at::Tensor& features) {
  Dataset dataset;
  dataset.features = features.to(at::kFloat);
  dataset.labels = at::zeros({features.size(0)}, at::kLong);
  dataset.numClasses = 1;
  dataset.source = "table";
  return dataset;
}

TEST(FeatureStatistics, ConstantColumnsGetAScaleOfOneAndOthersTheirStandardDeviation) {
  const int64_t n = 5000;
  at::manual_seed(1);
  // Zeros, a constant whose float sum is inexact, a large constant, a feature of tiny but real
  // spread, and an ordinary one.
  const at::Tensor columns = at::stack({at::zeros({n}), at::full({n}, 0.1), at::full({n}, 3.7e6),
                                        at::randn({n}) * 1e-9 + 2e-9, at::randn({n}) * 3 + 1},
                                       1);
  Dataset train = tableOf(columns);
  Dataset validation = tableOf(at::tensor({1.0, 0.1, 3.7e6 + 2, 2e-9, 1.0}).unsqueeze(0));
  const FeatureStatistics statistics = standardize(train, validation);

  const at::Tensor exact = columns.to(at::kDouble).std(0);
  EXPECT_EQ(statistics.scale[0], 1.0);
  EXPECT_EQ(statistics.scale[1], 1.0);
  EXPECT_EQ(statistics.scale[2], 1.0);
  EXPECT_NEAR(statistics.scale[3], exact[3].item<double>(), 1e-6 * exact[3].item<double>());
  EXPECT_NEAR(statistics.scale[4], exact[4].item<double>(), 1e-9 * exact[4].item<double>());
  // A value the training set never had in a constant feature stays of the size it came in.
  const at::Tensor scaled = validation.features[0];
  EXPECT_NEAR(scaled[0].item<float>(), 1.0, 1e-6);
  EXPECT_NEAR(scaled[2].item<float>(), 2.0, 1e-6);
  EXPECT_TRUE(at::isfinite(train.features).all().item<bool>());
  EXPECT_LT(train.features.select(1, 4).mean().abs().item<float>(), 1e-5);
}

TEST(FeatureStatistics, StatisticsOfOneSampleOrOfRoundingNoiseAreConstant) {
  EXPECT_TRUE(isConstantFeature(5.0, 2.0, 1));
  EXPECT_TRUE(isConstantFeature(0.0, 0.0, 1000));
  EXPECT_TRUE(isConstantFeature(0.1, 1e-17, 1000));  // a rounding error of the mean's size
  EXPECT_TRUE(isConstantFeature(1e6, 1e-8, 1000000));
  // A tiny spread that is real: no larger, but not lost in the mean's rounding.
  EXPECT_FALSE(isConstantFeature(0.0, 1e-16, 1000));
  EXPECT_FALSE(isConstantFeature(0.1, 1e-9, 1000));
  EXPECT_FALSE(isConstantFeature(1e6, 1e-3, 1000));
  EXPECT_TRUE(isConstantFeature(1.0, std::nan(""), 10));

  const FeatureStatistics statistics = featureStatistics({1, 2, 3}, {0.0, 0.5, 1e-20}, 100);
  EXPECT_EQ(statistics.mean, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(statistics.scale, (std::vector<double>{1, 0.5, 1}));  // 1e-20 is rounding at 3
  // A real spread, but too small for float32 features to be divided by.
  EXPECT_FALSE(isConstantFeature(0.0, 1e-45, 100));
  EXPECT_EQ(featureStatistics({0.0}, {1e-45}, 100).scale, std::vector<double>{1.0});
}

}  // namespace
}  // namespace ringtrain::data

// What standardisation does to a table of features: (x - mean) / scale, feature by feature, with
// the statistics of the training set. The one rule for the scale lives here, so that training,
// validation, `ringtrain eval`, shard data sets and the saved model file all divide by the same
// numbers.
#pragma once

#include <cstdint>
#include <vector>

namespace ringtrain::data {

struct FeatureStatistics {
  std::vector<double> mean;
  // The standard deviation (with n - 1), or 1 for a feature that is constant in the training
  // set, as scikit-learn's StandardScaler treats one (its scale_ takes n): a value such a feature
  // never took in training is centred, not multiplied by the inverse of a rounding error.
  std::vector<double> scale;
};

// True when a feature with this mean and standard deviation over `count` samples is constant up
// to the rounding of computing them in double precision (scikit-learn's bound): a spread of zero,
// or one no larger than the error of computing a variance of values that size. Also for one
// sample, and for a standard deviation that is not a number.
bool isConstantFeature(double mean, double deviation, int64_t count);

// The statistics of `count` samples whose features have these means and standard deviations. A
// standard deviation too small for a float32 (below 1e-38, from subnormal data) is taken as 1
// too: float32 features cannot be divided by it.
FeatureStatistics featureStatistics(std::vector<double> mean, const std::vector<double>& deviation,
                                    int64_t count);

}  // namespace ringtrain::data

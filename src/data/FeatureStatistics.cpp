#include "ringtrain/data/Dataset.h"

#include <cmath>
#include <limits>
#include <utility>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {

bool isConstantFeature(double mean, double deviation, int64_t count) {
  constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
  if (count <= 1 || !(deviation > 0)) return true;
  // The error of a variance computed in double precision is at most about this much; a variance
  // within it may as well be zero.
  const double n = static_cast<double>(count);
  const double variance = deviation * deviation;
  const double bound = n * kEpsilon * variance + (n * mean * kEpsilon) * (n * mean * kEpsilon);
  return variance <= bound;
}

FeatureStatistics featureStatistics(std::vector<double> mean, const std::vector<double>& deviation,
                                    int64_t count) {
  RINGTRAIN_CHECK(mean.size() == deviation.size(),
                  mean.size() << " means and " << deviation.size() << " standard deviations");
  FeatureStatistics statistics;
  statistics.scale.reserve(deviation.size());
  for (size_t i = 0; i < deviation.size(); ++i) {
    const bool usable = !isConstantFeature(mean[i], deviation[i], count) &&
                        std::isnormal(static_cast<float>(deviation[i]));
    statistics.scale.push_back(usable ? deviation[i] : 1.0);
  }
  statistics.mean = std::move(mean);
  return statistics;
}

}  // namespace ringtrain::data

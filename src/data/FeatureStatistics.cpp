#include "ringtrain/data/FeatureStatistics.h"

#include <limits>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {

bool isConstantFeature(double mean, double std, int64_t count) {
  constexpr double kEpsilon = std::numeric_limits<double>::epsilon();
  if (count <= 1 || !(std > 0)) return true;
  // The error of a variance computed in double precision is at most about this much; a variance
  // within it may as well be zero.
  const double n = static_cast<double>(count);
  const double variance = std * std;
  const double bound = n * kEpsilon * variance + (n * mean * kEpsilon) * (n * mean * kEpsilon);
  return variance <= bound;
}

FeatureStatistics featureStatistics(std::vector<double> mean, const std::vector<double>& std,
                                    int64_t count) {
  RINGTRAIN_CHECK(mean.size() == std.size(),
                  mean.size() << " means and " << std.size() << " standard deviations");
  FeatureStatistics statistics;
  statistics.scale.reserve(std.size());
  for (size_t i = 0; i < std.size(); ++i) {
    statistics.scale.push_back(isConstantFeature(mean[i], std[i], count) ? 1.0 : std[i]);
  }
  statistics.mean = std::move(mean);
  return statistics;
}

}  // namespace ringtrain::data

#include "train/LrSchedule.h"

#include <algorithm>
#include <cmath>

#include "train/SettingNames.h"

namespace ringtrain::train {

double learningRateAt(const LrSchedule& schedule, int64_t step) {
  if (step < schedule.warmupSteps) {
    return schedule.baseLr * static_cast<double>(step + 1) /
           static_cast<double>(schedule.warmupSteps);
  }
  const int64_t decaySteps = std::max<int64_t>(1, schedule.totalSteps - schedule.warmupSteps);
  const double progress =
      std::clamp(static_cast<double>(step - schedule.warmupSteps) / decaySteps, 0.0, 1.0);
  switch (schedule.shape) {
    case LrShape::kConstant:
      return schedule.baseLr;
    case LrShape::kCosine:
      return schedule.baseLr * 0.5 * (1.0 + std::cos(M_PI * progress));
    case LrShape::kLinear:
      return schedule.baseLr * (1.0 - progress);
  }
  return schedule.baseLr;
}

LrShape parseLrShape(const std::string& name) {
  return valueNamed(lrShapeNames(), "lr-schedule", name);
}

}  // namespace ringtrain::train

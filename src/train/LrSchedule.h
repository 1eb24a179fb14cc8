// Learning rate as a pure function of the optimizer step: linear warmup from base/warmup to base
// over `warmupSteps`, then constant, cosine decay to zero, or linear decay to zero at totalSteps.
#pragma once

#include <cstdint>
#include <string>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

struct LrSchedule {
  double baseLr = 0.1;
  LrShape shape = LrShape::kConstant;
  int64_t warmupSteps = 0;
  int64_t totalSteps = 1;
};

// step counts from 0 (the first optimizer step).
double learningRateAt(const LrSchedule& schedule, int64_t step);

LrShape parseLrShape(const std::string& name);  // UserError naming --lr-schedule

}  // namespace ringtrain::train

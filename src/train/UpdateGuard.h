// Whether a step's update goes into the weights. A sound step's does. fp16 gradients that
// overflowed are skipped while the loss scale can still come down (expected now and then, not a
// sign of divergence). Any other loss or gradient that is not finite is skipped under
// --on-nonfinite skip (at most kMaxConsecutiveSkips in a row), or ends the run as diverged (exit
// status 3) with the step and the newest checkpoint named. Every rank holds the same outcome, so
// every rank decides the same without communicating.
#pragma once

#include <functional>
#include <string>

#include "StepStrategy.h"
#include "train/MixedPrecision.h"
#include "train/NonFinite.h"
#include "train/RunLog.h"

namespace ringtrain::train {

class UpdateGuard {
 public:
  // `reporter`: this rank reports a divergence (rank 0).
  UpdateGuard(const TrainConfig& config, bool reporter);

  LossScaler& scaler() { return scaler_; }
  const LossScaler& scaler() const { return scaler_; }

  // After step `step` (counted from 1) of epoch `epoch` (from 0): true when its update may be
  // applied. Otherwise logs why it was skipped, or throws comm::CollectiveFailure when training
  // diverged; `newestCheckpoint` is asked only then.
  bool admit(const StepOutcome& outcome, int64_t step, int64_t epoch, RunLog& log,
             const std::function<std::string()>& newestCheckpoint);

  int64_t skippedSteps() const { return skippedSteps_; }    // for non-finite values
  int64_t overflowSteps() const { return overflowSteps_; }  // fp16 overflows

 private:
  bool refuse(const std::string& problem, const std::string& where, RunLog& log,
              const std::function<std::string()>& newestCheckpoint);

  const NonFinitePolicy policy_;
  const bool reporter_;
  LossScaler scaler_;
  int64_t skippedSteps_ = 0;
  int consecutiveSkips_ = 0;
  int64_t overflowSteps_ = 0;
};

}  // namespace ringtrain::train

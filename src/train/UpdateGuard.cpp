#include "UpdateGuard.h"

#include <cmath>
#include <sstream>

#include "ringtrain/comm/Agreement.h"

namespace ringtrain::train {
namespace {

constexpr int kDivergedExitCode = 3;

}  // namespace

UpdateGuard::UpdateGuard(const TrainConfig& config, bool reporter)
    : policy_(config.onNonFinite),
      reporter_(reporter),
      scaler_(config.precision == Precision::kFp16, config.lossScaling) {}

bool UpdateGuard::admit(const StepOutcome& outcome, int64_t step, int64_t epoch, RunLog& log,
                        const std::function<std::string()>& newestCheckpoint) {
  if (!outcome.problem) {
    scaler_.record(false);
    consecutiveSkips_ = 0;
    return true;
  }
  const std::string where =
      "step " + std::to_string(step) + " (epoch " + std::to_string(epoch + 1) + ")";
  if (!scaler_.enabled() || !std::isfinite(outcome.loss)) {
    return refuse(*outcome.problem, where, log, newestCheckpoint);
  }
  ++overflowSteps_;
  if (!scaler_.record(true)) {
    return refuse(*outcome.problem + " at the smallest fp16 loss scale", where, log,
                  newestCheckpoint);
  }
  std::ostringstream line;
  line << "fp16: gradients overflowed at step " << step << ", update skipped; loss scale "
       << scaler_.scale();
  log.info(line.str());
  return false;
}

bool UpdateGuard::refuse(const std::string& problem, const std::string& where, RunLog& log,
                         const std::function<std::string()>& newestCheckpoint) {
  if (policy_ == NonFinitePolicy::kSkip && consecutiveSkips_ < kMaxConsecutiveSkips) {
    ++skippedSteps_;
    ++consecutiveSkips_;
    log.warn(problem + " at " + where + "; its update was skipped (" +
             std::to_string(skippedSteps_) + " so far)");
    return false;
  }
  const std::string newest = newestCheckpoint();
  std::ostringstream message;
  message << "training diverged: " << problem << " at " << where;
  if (consecutiveSkips_ > 0) message << ", after " << consecutiveSkips_ << " skipped in a row";
  message << "; the update was not applied and model.safetensors was not written";
  if (!newest.empty()) message << "; newest checkpoint: " << newest;
  message << ". Lower --lr or clip with --clip-grad-norm"
          << (policy_ == NonFinitePolicy::kStop
                  ? ", or pass --on-nonfinite skip to drop such updates"
                  : "");
  throw comm::CollectiveFailure(message.str(), reporter_, kDivergedExitCode);
}

}  // namespace ringtrain::train

#include "RunPlan.h"

#include <algorithm>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {

RunPlan planRun(const TrainConfig& config, int64_t startEpoch, int64_t startStep,
                const std::optional<EpochSteps>& epoch, bool startFinished) {
  RunPlan plan;
  if (!epoch) {
    plan.epochsToRun = config.epochs;
    plan.totalSteps = config.maxSteps > 0 ? config.maxSteps : kUnknownSteps;
    plan.startsPastTheEnd = startStep > plan.totalSteps || startEpoch >= config.epochs;
    plan.startsAtTheEnd = config.maxSteps > 0 ? startStep == config.maxSteps
                                              : startFinished && startEpoch + 1 == config.epochs;
    RINGTRAIN_USER_CHECK(config.lrShape == LrShape::kConstant || config.maxSteps > 0,
                         "--lr-schedule with a stream (pipe:) needs --max-steps: the length of "
                         "a stream is not known in advance");
    plan.scheduledSteps = config.maxSteps;
    return plan;
  }
  plan.stepsPerEpoch = epoch->whole;
  if (config.maxSteps > 0) {
    plan.totalSteps = config.maxSteps;
    plan.startsPastTheEnd = startStep > config.maxSteps;
    const int64_t afterThisEpoch =
        std::max<int64_t>(0, plan.totalSteps - startStep - epoch->leftInStarting);
    plan.epochsToRun =
        startEpoch + 1 + (afterThisEpoch + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch;
  } else {
    plan.epochsToRun = config.epochs;
    plan.startsPastTheEnd = startEpoch >= config.epochs;
    plan.totalSteps = startEpoch < config.epochs
                          ? startStep + epoch->leftInStarting +
                                (config.epochs - startEpoch - 1) * plan.stepsPerEpoch
                          : startStep;
  }
  plan.scheduledSteps = plan.totalSteps;
  plan.startsAtTheEnd = !plan.startsPastTheEnd && startStep == plan.totalSteps;
  return plan;
}

}  // namespace ringtrain::train

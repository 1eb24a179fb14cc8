#include "Validation.h"

#include <chrono>

#include "health/Progress.h"
#include "platform/Resources.h"

namespace ringtrain::train {

Validation::Validation(const TrainConfig& config, EvaluationInput input)
    : input_(std::move(input)), every_(config.valEvery) {
  input_.batchSize = config.evalBatchSize > 0 ? config.evalBatchSize : config.batchSize;
  input_.maxBatches = config.valMaxBatches;
}

bool Validation::dueAfterStep(int64_t step) const {
  return input_.samples && every_ > 0 && step % every_ == 0;
}

bool Validation::dueAfterEpoch(bool lastEpoch, int64_t step) const {
  return input_.samples && (every_ == 0 || (lastEpoch && validatedAt_ != step));
}

Evaluation Validation::run(StepStrategy& strategy, const Objective& objective,
                           comm::Communicator& data, c10::Device device, int64_t step) {
  health::markPhase(health::Phase::kEvaluation);
  const auto start = std::chrono::steady_clock::now();
  const double cpuStart = platform::processCpuSeconds();
  strategy.averageBuffers(step);
  const Evaluation result = evaluate(strategy, input_, objective, data, device);
  validatedAt_ = step;
  lastTargets_ = result.targets;
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cpuSeconds_ += platform::processCpuSeconds() - cpuStart;
  return result;
}

}  // namespace ringtrain::train

// When a training run validates and what it costs: after each epoch, or every --val-every steps
// and after the last; in batches of --eval-batch-size (--batch-size), at most --val-max-batches
// of them per rank; its time kept apart from training's (Evaluator.h does the scoring).
#pragma once

#include <cstdint>

#include "Evaluator.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

class Validation {
 public:
  // `input.samples` null: --val none, nothing is ever due. The batch size and bound come from
  // `config`.
  Validation(const TrainConfig& config, EvaluationInput input);

  bool dueAfterStep(int64_t step) const;
  // After an epoch: every epoch without --val-every; with it, after the run's last one unless its
  // last step was validated.
  bool dueAfterEpoch(bool lastEpoch, int64_t step) const;

  // Collective over `data`: averages the replicas' buffers (BatchNorm's statistics), then scores
  // the validation data; the model must be in evaluation mode.
  Evaluation run(StepStrategy& strategy, const Objective& objective, comm::Communicator& data,
                 c10::Device device, int64_t step);

  double seconds() const { return seconds_; }        // spent validating, all of it
  double cpuSeconds() const { return cpuSeconds_; }  // the process's CPU time in it
  int64_t lastTargets() const { return lastTargets_; }

 private:
  EvaluationInput input_;
  int64_t every_;
  int64_t validatedAt_ = -1;
  int64_t lastTargets_ = 0;
  double seconds_ = 0;
  double cpuSeconds_ = 0;
};

}  // namespace ringtrain::train

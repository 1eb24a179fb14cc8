// The base of the strategies in which every rank runs the whole model on its own micro-batches
// (DataParallelStep.cpp, ShardedStep.cpp): the model on the rank's device, a step's forward and
// backward passes with the reducer averaging (or reduce-scattering) the gradients, evaluation,
// and every rank a replica.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "StepStrategy.h"

namespace ringtrain::train {

struct PassResult {
  double loss = 0;         // the step's mean loss over every rank's micro-batches
  bool stopVoted = false;  // some rank received a stop signal
};

class WholeModelStep : public StepStrategy {
 public:
  at::Tensor evaluate(const data::Batch& batch) override;
  // Final: the constructor hands replicas() to the reducer before any subclass exists.
  comm::Communicator& replicas() final { return context_.data; }
  comm::Communicator& replicaControl() final { return context_.control; }

 protected:
  // Moves the model to the device and trains all its parameters (trainThese).
  WholeModelStep(const StepContext& context, models::Classifier& model, double baseLr,
                 ddp::GradientSharding sharding);

  // Runs the step's `microBatches` micro-batches from `input` forward and backward; the
  // reducer's finishBackward has returned when this does. Gradients stay scaled by the loss
  // scaler.
  PassResult forwardBackward(EpochInput& input, int64_t microBatches, int64_t& samples);
};

}  // namespace ringtrain::train

// What the strategies in which every rank runs the whole model share (DataParallelStep.cpp,
// ShardedStep.cpp): a step's forward and backward passes over its micro-batches, with the
// reducer averaging (or reduce-scattering) the gradients, and evaluation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "StepStrategy.h"

namespace ringtrain::train {

struct PassResult {
  double loss = 0;         // the step's mean loss over every rank's micro-batches
  bool stopVoted = false;  // some rank received a stop signal
};

// Runs the step's `microBatches` micro-batches from `input` through `model` and backward; the
// reducer's finishBackward has returned when this does. Gradients stay scaled by the loss scaler.
PassResult forwardBackward(const StepContext& context, models::Classifier& model,
                           ddp::Reducer& reducer, EpochInput& input, int64_t microBatches,
                           int64_t& samples);

// The model's output for a validation batch, on the device.
at::Tensor evaluateWholeModel(const StepContext& context, models::Classifier& model,
                              const data::Batch& batch);

}  // namespace ringtrain::train

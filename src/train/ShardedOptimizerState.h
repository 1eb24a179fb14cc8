// One parameter's optimizer state as a list of tensors and a step count, for the two optimizers
// ringtrain trains with, so that a sharded optimizer can cut a whole parameter's state into the
// pieces its shards own and put the pieces back together for a checkpoint.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// The state's tensors, in a fixed order: AdamW's exp_avg and exp_avg_sq, SGD's momentum buffer.
std::vector<at::Tensor> stateTensors(const torch::optim::OptimizerParamState& state);
// AdamW's step count; 0 for SGD, which keeps none.
int64_t stateStep(const torch::optim::OptimizerParamState& state);
// How many tensors config.optimizer keeps per parameter once it has stepped (SGD without momentum
// none).
int stateTensorCount(const TrainConfig& config);
// A state of config.optimizer's kind holding `tensors` (in stateTensors' order) and `step`.
std::unique_ptr<torch::optim::OptimizerParamState> makeState(const TrainConfig& config,
                                                             std::vector<at::Tensor> tensors,
                                                             int64_t step);

}  // namespace ringtrain::train

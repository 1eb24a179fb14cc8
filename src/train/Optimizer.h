// Builds the LibTorch optimizer named by the config and sets its learning rate each step.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// UserError naming the flag for unknown names or inconsistent settings (e.g. --nesterov without
// momentum).
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainConfig& config,
                                                       std::vector<at::Tensor> parameters,
                                                       double learningRate);

void setLearningRate(torch::optim::Optimizer& optimizer, double learningRate);

}  // namespace ringtrain::train

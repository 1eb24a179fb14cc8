#include "train/Optimizer.h"

#include "ringtrain/util/Error.h"
#include "train/FusedAdamW.h"
#include "train/FusedSgd.h"

namespace ringtrain::train {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainConfig& config,
                                                       std::vector<at::Tensor> parameters,
                                                       double learningRate) {
  RINGTRAIN_USER_CHECK(config.weightDecay >= 0, "--weight-decay must not be negative");
  if (config.optimizer == "sgd") {
    RINGTRAIN_USER_CHECK(config.momentum >= 0 && config.momentum < 1,
                         "--momentum must be in [0, 1), got " << config.momentum);
    RINGTRAIN_USER_CHECK(!config.nesterov || config.momentum > 0,
                         "--nesterov needs --momentum > 0");
    return std::make_unique<FusedSgd>(std::move(parameters), torch::optim::SGDOptions(learningRate)
                                                                 .momentum(config.momentum)
                                                                 .nesterov(config.nesterov)
                                                                 .weight_decay(config.weightDecay));
  }
  if (config.optimizer == "adamw") {
    return std::make_unique<FusedAdamW>(
        std::move(parameters),
        torch::optim::AdamWOptions(learningRate).weight_decay(config.weightDecay));
  }
  throw UserError("--optimizer must be sgd or adamw, got '" + config.optimizer + "'");
}

void setLearningRate(torch::optim::Optimizer& optimizer, double learningRate) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(learningRate);
}

}  // namespace ringtrain::train

#include "train/ShardedOptimizerState.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {

std::vector<at::Tensor> stateTensors(const torch::optim::OptimizerParamState& state) {
  if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(&state)) {
    return {adamw->exp_avg(), adamw->exp_avg_sq()};
  }
  if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(&state)) {
    return {sgd->momentum_buffer()};
  }
  throw InternalError("an optimizer state of neither SGD nor AdamW");
}

int64_t stateStep(const torch::optim::OptimizerParamState& state) {
  const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(&state);
  return adamw ? adamw->step() : 0;
}

int stateTensorCount(const TrainConfig& config) {
  if (config.optimizer == "adamw") return 2;
  return config.momentum != 0 ? 1 : 0;
}

std::unique_ptr<torch::optim::OptimizerParamState> makeState(const TrainConfig& config,
                                                             std::vector<at::Tensor> tensors,
                                                             int64_t step) {
  RINGTRAIN_CHECK(static_cast<int>(tensors.size()) == stateTensorCount(config),
                  tensors.size() << " state tensors for " << config.optimizer);
  if (config.optimizer == "adamw") {
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(step);
    state->exp_avg(std::move(tensors[0]));
    state->exp_avg_sq(std::move(tensors[1]));
    return state;
  }
  auto state = std::make_unique<torch::optim::SGDParamState>();
  state->momentum_buffer(std::move(tensors.at(0)));
  return state;
}

}  // namespace ringtrain::train

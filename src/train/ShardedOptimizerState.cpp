#include "train/ShardedOptimizerState.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {

std::optional<StateKind> stateKindOf(const torch::optim::Optimizer& optimizer) {
  if (dynamic_cast<const torch::optim::AdamW*>(&optimizer)) {
    // AMSGrad keeps a third tensor, max_exp_avg_sq.
    for (const auto& group : optimizer.param_groups()) {
      if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) {
        return std::nullopt;
      }
    }
    return StateKind::kAdamW;
  }
  if (dynamic_cast<const torch::optim::SGD*>(&optimizer)) return StateKind::kSgd;
  return std::nullopt;
}

const char* stateKindName(StateKind kind) {
  return kind == StateKind::kAdamW ? "adamw" : "sgd";
}

std::vector<std::string> stateFieldNames(StateKind kind) {
  if (kind == StateKind::kAdamW) return {"exp_avg", "exp_avg_sq"};
  return {"momentum_buffer"};
}

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

std::unique_ptr<torch::optim::OptimizerParamState> makeState(StateKind kind,
                                                             std::vector<at::Tensor> tensors,
                                                             int64_t step) {
  RINGTRAIN_CHECK(tensors.size() == stateFieldNames(kind).size(),
                  tensors.size() << " state tensors for " << stateKindName(kind));
  if (kind == StateKind::kAdamW) {
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

std::unique_ptr<torch::optim::Optimizer> stateHolder(StateKind kind,
                                                     std::vector<at::Tensor> parameters) {
  if (kind == StateKind::kAdamW) {
    return std::make_unique<torch::optim::AdamW>(std::move(parameters));
  }
  return std::make_unique<torch::optim::SGD>(std::move(parameters), torch::optim::SGDOptions(0));
}

}  // namespace ringtrain::train

// One parameter's optimizer state as a list of tensors and a step count, for the two optimizers
// ringtrain trains with, so that a sharded optimizer can cut a whole parameter's state into the
// pieces its shards own and put the pieces back together for a checkpoint, and a checkpoint's
// optimizer.safetensors can name each tensor (OptimizerStateFile.h).
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringtrain::train {

enum class StateKind { kSgd, kAdamW };
// Nothing for optimizers other than LibTorch's SGD and AdamW (and their fused versions), and for
// AdamW with AMSGrad.
std::optional<StateKind> stateKindOf(const torch::optim::Optimizer& optimizer);
const char* stateKindName(StateKind kind);  // "sgd", "adamw"
// What stateTensors' tensors are called: "exp_avg" and "exp_avg_sq"; "momentum_buffer".
std::vector<std::string> stateFieldNames(StateKind kind);

// The state's tensors, in a fixed order: AdamW's exp_avg and exp_avg_sq, SGD's momentum buffer.
std::vector<at::Tensor> stateTensors(const torch::optim::OptimizerParamState& state);
// AdamW's step count; 0 for SGD, which keeps none.
int64_t stateStep(const torch::optim::OptimizerParamState& state);
// A state of `kind` holding `tensors` (in stateTensors' order) and `step`.
std::unique_ptr<torch::optim::OptimizerParamState> makeState(StateKind kind,
                                                             std::vector<at::Tensor> tensors,
                                                             int64_t step);
// An optimizer of `kind` over `parameters` that only holds state (to be loaded, then cut into a
// sharded optimizer's pieces): its settings are placeholders.
std::unique_ptr<torch::optim::Optimizer> stateHolder(StateKind kind,
                                                     std::vector<at::Tensor> parameters);

}  // namespace ringtrain::train

// What the fused optimizers (FusedSgd, FusedAdamW) share: whether the kernels can update every
// parameter (float32, contiguous and on one device, like their gradients and state; otherwise the
// fused optimizers fall back to LibTorch's own step, which has the same semantics), and the
// closure call every step() starts with.
#pragma once

#include <torch/optim/optimizer.h>

#include <vector>

namespace ringtrain::train {

bool fusedStepApplies(const std::vector<torch::optim::OptimizerParamGroup>& groups);
// The same for optimizer state (momentum, moments), which a checkpoint may have brought from
// elsewhere; undefined tensors pass.
bool fusedStateApplies(const std::vector<at::Tensor>& state, const c10::Device& device);

// Every parameter's state of type State, as `tensorsOf(state)` lists its tensors.
template <typename State, typename TensorsOf>
bool fusedStateApplies(const torch::optim::Optimizer& optimizer, TensorsOf tensorsOf) {
  for (const auto& group : optimizer.param_groups()) {
    for (const auto& parameter : group.params()) {
      const auto found = optimizer.state().find(parameter.unsafeGetTensorImpl());
      if (found == optimizer.state().end()) continue;
      if (!fusedStateApplies(tensorsOf(static_cast<const State&>(*found->second)),
                             parameter.device())) {
        return false;
      }
    }
  }
  return true;
}

// The closure's loss, evaluated with gradients enabled as LibTorch's optimizers do; undefined
// without a closure.
at::Tensor evaluateClosure(const torch::optim::Optimizer::LossClosure& closure);

}  // namespace ringtrain::train

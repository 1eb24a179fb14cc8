#include "train/FusedStepEligibility.h"

#include <torch/autograd.h>

#include <optional>

namespace ringtrain::train {
namespace {

bool fusable(const at::Tensor& tensor, const c10::Device& device) {
  return tensor.scalar_type() == at::kFloat && tensor.is_contiguous() &&
         tensor.device() == device && !tensor.is_sparse();
}

}  // namespace

bool fusedStepApplies(const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  std::optional<c10::Device> device;
  for (const auto& group : groups) {
    for (const at::Tensor& parameter : group.params()) {
      if (!device) device = parameter.device();
      if (!fusable(parameter, *device)) return false;
      if (parameter.grad().defined() && !fusable(parameter.grad(), *device)) return false;
    }
  }
  return true;
}

bool fusedStateApplies(const std::vector<at::Tensor>& state, const c10::Device& device) {
  for (const at::Tensor& tensor : state) {
    if (tensor.defined() && !fusable(tensor, device)) return false;
  }
  return true;
}

at::Tensor evaluateClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return at::Tensor();
  at::AutoGradMode enableGrad(true);
  return closure();
}

}  // namespace ringtrain::train

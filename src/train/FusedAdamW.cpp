#include "train/FusedAdamW.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <torch/autograd.h>

#include "OptimizerStep.h"
#include "platform/CudaStream.h"
#include "train/FusedStepEligibility.h"

namespace ringtrain::train {
namespace {

bool anyAmsgrad(const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  for (const auto& group : groups) {
    if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad()) return true;
  }
  return false;
}

}  // namespace

at::Tensor FusedAdamW::step(LossClosure closure) {
  const auto momentsOf = [](const torch::optim::AdamWParamState& state) {
    return std::vector<at::Tensor>{state.exp_avg(), state.exp_avg_sq()};
  };
  if (anyAmsgrad(param_groups()) || !fusedStepApplies(param_groups()) ||
      !fusedStateApplies<torch::optim::AdamWParamState>(*this, momentsOf)) {
    return torch::optim::AdamW::step(std::move(closure));
  }
  at::NoGradGuard noGrad;
  const at::Tensor loss = evaluateClosure(closure);
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    const kernels::AdamWSettings settings = kernels::adamWSettings(beta1, beta2, options.eps());
    std::vector<kernels::AdamWSpan> spans;
    std::vector<kernels::AdamWFactors> factors;
    c10::Device device(c10::kCPU);
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      device = parameter.device();
      auto found = state_.find(parameter.unsafeGetTensorImpl());
      if (found == state_.end()) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        state->exp_avg(at::zeros_like(parameter, at::MemoryFormat::Contiguous));
        state->exp_avg_sq(at::zeros_like(parameter, at::MemoryFormat::Contiguous));
        found = state_.emplace(parameter.unsafeGetTensorImpl(), std::move(state)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*found->second);
      state.step(state.step() + 1);
      spans.push_back({parameter.data_ptr<float>(), parameter.grad().const_data_ptr<float>(),
                       state.exp_avg().data_ptr<float>(), state.exp_avg_sq().data_ptr<float>(),
                       parameter.numel()});
      factors.push_back(
          kernels::adamWFactors(options.lr(), options.weight_decay(), beta1, beta2, state.step()));
    }
    if (spans.empty()) continue;
    if (device.is_cuda()) {
      const c10::DeviceGuard onDevice(device);  // the caller may be on another GPU's thread
      kernels::adamWStepCuda(spans, factors, settings, platform::currentCudaStream(device.index()));
    } else {
      kernels::adamWStepCpu(spans, factors, settings);
    }
  }
  return loss;
}

}  // namespace ringtrain::train

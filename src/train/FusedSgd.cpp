#include "train/FusedSgd.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <torch/autograd.h>

#include "OptimizerStep.h"
#include "platform/CudaStream.h"
#include "train/FusedStepEligibility.h"

namespace ringtrain::train {
namespace {

void apply(const std::vector<kernels::SgdSpan>& spans, const kernels::SgdSettings& settings,
           bool firstStep, const c10::Device& device) {
  if (spans.empty()) return;
  if (device.is_cuda()) {
    const c10::DeviceGuard onDevice(device);  // the caller may be on another GPU's thread
    kernels::sgdStepCuda(spans, settings, firstStep, platform::currentCudaStream(device.index()));
  } else {
    kernels::sgdStepCpu(spans, settings, firstStep);
  }
}

}  // namespace

at::Tensor FusedSgd::step(LossClosure closure) {
  const auto momentumOf = [](const torch::optim::SGDParamState& state) {
    return std::vector<at::Tensor>{state.momentum_buffer()};
  };
  if (!fusedStepApplies(param_groups()) ||
      !fusedStateApplies<torch::optim::SGDParamState>(*this, momentumOf)) {
    return torch::optim::SGD::step(std::move(closure));
  }
  at::NoGradGuard noGrad;
  const at::Tensor loss = evaluateClosure(closure);
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
    const kernels::SgdSettings settings =
        kernels::sgdSettings(options.lr(), options.momentum(), options.dampening(),
                             options.weight_decay(), options.nesterov());
    // A parameter's first step starts its momentum from the gradient, later ones blend into the
    // buffer; the kernel takes that as one flag per call, so the two kinds go separately.
    std::vector<kernels::SgdSpan> continuing;
    std::vector<kernels::SgdSpan> starting;
    c10::Device device(c10::kCPU);
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      device = parameter.device();
      const bool withMomentum = options.momentum() != 0;
      auto found = state_.find(parameter.unsafeGetTensorImpl());
      const bool first = withMomentum && found == state_.end();
      float* momentum = nullptr;
      if (withMomentum) {
        if (first) {
          auto state = std::make_unique<torch::optim::SGDParamState>();
          state->momentum_buffer(at::empty_like(parameter, at::MemoryFormat::Contiguous));
          found = state_.emplace(parameter.unsafeGetTensorImpl(), std::move(state)).first;
        }
        momentum = static_cast<torch::optim::SGDParamState&>(*found->second)
                       .momentum_buffer()
                       .data_ptr<float>();
      }
      (first ? starting : continuing)
          .push_back({parameter.data_ptr<float>(), parameter.grad().const_data_ptr<float>(),
                      momentum, parameter.numel()});
    }
    apply(continuing, settings, /*firstStep=*/false, device);
    apply(starting, settings, /*firstStep=*/true, device);
  }
  return loss;
}

}  // namespace ringtrain::train

#include "ringtrain/train/FusedSgd.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace ringtrain::train {
namespace {

struct UpdateList {
  std::vector<at::Tensor> parameters;
  std::vector<at::Tensor> gradients;
  std::vector<at::Tensor> momentumBuffers;
};

void applyFused(UpdateList& list, const torch::optim::SGDOptions& options, bool firstStep) {
  if (list.parameters.empty()) return;
  at::_fused_sgd_(list.parameters, list.gradients, list.momentumBuffers, options.weight_decay(),
                  options.momentum(), options.lr(), options.dampening(), options.nesterov(),
                  /*maximize=*/false, firstStep);
}

}  // namespace

at::Tensor FusedSgd::step(LossClosure closure) {
  at::NoGradGuard noGrad;
  at::Tensor loss;
  if (closure) {
    at::AutoGradMode enableGrad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const torch::optim::SGDOptions&>(group.options());
    // A parameter's first step starts its momentum from the gradient, later ones blend into the
    // buffer; the fused kernel takes that as one flag per call, so the two kinds go separately.
    UpdateList continuing;
    UpdateList starting;
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      const bool withMomentum = options.momentum() != 0;
      auto found = state_.find(parameter.unsafeGetTensorImpl());
      UpdateList& list = (!withMomentum || found != state_.end()) ? continuing : starting;
      list.parameters.push_back(parameter);
      list.gradients.push_back(parameter.grad());
      if (!withMomentum) continue;
      if (found == state_.end()) {
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(at::empty_like(parameter, at::MemoryFormat::Preserve));
        found = state_.emplace(parameter.unsafeGetTensorImpl(), std::move(state)).first;
      }
      list.momentumBuffers.push_back(
          static_cast<torch::optim::SGDParamState&>(*found->second).momentum_buffer());
    }
    applyFused(continuing, options, /*firstStep=*/false);
    applyFused(starting, options, /*firstStep=*/true);
  }
  return loss;
}

}  // namespace ringtrain::train

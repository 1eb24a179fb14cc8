// AdamW updating every parameter in one fused pass (kernels/OptimizerStep.h) instead of LibTorch's
// eight passes per tensor. Keeps torch::optim::AdamW's options, state and serialisation, so
// checkpoints stay interchangeable with it, and replaces only step(). amsgrad, and parameters the
// kernel cannot take, go through LibTorch's step.
#pragma once

#include <torch/optim/adamw.h>

#include <vector>

namespace ringtrain::train {

class FusedAdamW final : public torch::optim::AdamW {
 public:
  FusedAdamW(std::vector<at::Tensor> parameters, torch::optim::AdamWOptions options)
      : torch::optim::AdamW(std::move(parameters), options) {}

  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace ringtrain::train

// SGD with momentum, Nesterov and weight decay, updating every parameter in one fused pass.
//
// torch::optim::SGD makes three passes over memory per parameter (weight decay, momentum, step);
// for a model whose step is bound by memory traffic that is most of the optimizer's time. This
// class keeps SGD's options, state and serialisation, so checkpoints stay interchangeable with
// torch::optim::SGD, and replaces only step().
#pragma once

#include <torch/optim/sgd.h>

#include <vector>

namespace ringtrain::train {

class FusedSgd final : public torch::optim::SGD {
 public:
  FusedSgd(std::vector<at::Tensor> parameters, torch::optim::SGDOptions options)
      : torch::optim::SGD(std::move(parameters), options) {}

  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace ringtrain::train

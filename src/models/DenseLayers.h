// ReLU hidden layers and a linear output layer, registered into an owning module as hidden.<i>.*
// and output.*; used by the MLP and as the CNN's classifier head.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

#include <vector>

namespace ringtrain::models {

class DenseLayers {
 public:
  DenseLayers(torch::nn::Module& owner, int64_t inputs, const std::vector<int64_t>& hidden,
              int64_t classes);
  at::Tensor forward(at::Tensor x);

 private:
  torch::nn::ModuleList hidden_;
  torch::nn::Linear output_{nullptr};
};

}  // namespace ringtrain::models

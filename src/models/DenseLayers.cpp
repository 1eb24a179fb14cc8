#include "DenseLayers.h"

#include <torch/nn/functional/activation.h>

namespace ringtrain::models {

DenseLayers::DenseLayers(torch::nn::Module& owner, int64_t inputs,
                         const std::vector<int64_t>& hidden, int64_t classes) {
  for (const int64_t width : hidden) {
    hidden_->push_back(torch::nn::Linear(inputs, width));
    inputs = width;
  }
  output_ = torch::nn::Linear(inputs, classes);
  owner.register_module("hidden", hidden_);
  owner.register_module("output", output_);
}

at::Tensor DenseLayers::forward(at::Tensor x) {
  for (const auto& layer : *hidden_) x = torch::relu(layer->as<torch::nn::Linear>()->forward(x));
  return output_->forward(x);
}

}  // namespace ringtrain::models

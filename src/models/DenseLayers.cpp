#include "DenseLayers.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>

namespace ringtrain::models {

std::vector<Layer> makeDenseLayers(torch::nn::Module& owner, int64_t inputs,
                                   const std::vector<int64_t>& hidden, int64_t classes,
                                   bool flattenInput) {
  torch::nn::ModuleList hiddenList;
  std::vector<Layer> layers;
  for (size_t i = 0; i < hidden.size(); ++i) {
    torch::nn::Linear linear(inputs, hidden[i]);
    hiddenList->push_back(linear);
    const bool flatten = flattenInput && i == 0;
    layers.push_back({"hidden." + std::to_string(i), linear.ptr(),
                      [linear, flatten](const at::Tensor& x) mutable {
                        return torch::relu(linear->forward(flatten ? x.flatten(1) : x));
                      }});
    inputs = hidden[i];
  }
  torch::nn::Linear output(inputs, classes);
  const bool flatten = flattenInput && hidden.empty();
  layers.push_back({"output", output.ptr(), [output, flatten](const at::Tensor& x) mutable {
                      return output->forward(flatten ? x.flatten(1) : x);
                    }});
  owner.register_module("hidden", hiddenList);
  owner.register_module("output", output);
  return layers;
}

}  // namespace ringtrain::models

// The built-in classifiers. Parameter names are part of the model file format (model.safetensors):
//   mlp: hidden.<i>.weight [out, in], hidden.<i>.bias [out], output.weight, output.bias
//   cnn: conv1.weight [16, C, 3, 3], conv1.bias, conv2.weight [32, 16, 3, 3], conv2.bias,
//        then the same hidden.<i>.* and output.* as the MLP on the 32x4x4 pooled features
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace ringtrain::models {

struct ModelSpec {
  std::string kind = "mlp";  // mlp | cnn
  std::vector<int64_t> hidden{512, 256};
  std::vector<int64_t> inputShape;  // one sample, e.g. {64} or {1, 28, 28}
  int64_t numClasses = 0;
};

class Classifier : public torch::nn::Module {
 public:
  // x: [batch, ...inputShape] -> logits [batch, numClasses]
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

// Throws UserError if the input shape does not suit the model kind.
std::shared_ptr<Classifier> makeModel(const ModelSpec& spec);

// "512,256" -> {512, 256}; "" -> {}. UserError naming --hidden on bad input.
std::vector<int64_t> parseLayerSizes(const std::string& text);

}  // namespace ringtrain::models

#include "Cnn.h"

#include <ATen/ATen.h>

namespace ringtrain::models {
namespace {

constexpr int64_t kConv1Channels = 16;
constexpr int64_t kConv2Channels = 32;
constexpr int64_t kPooledSide = 4;

torch::nn::Conv2d makeConv(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

}  // namespace

Cnn::Cnn(const std::vector<int64_t>& imageShape, const std::vector<int64_t>& hidden,
         int64_t classes)
    : imageShape_(imageShape),
      conv1_(register_module("conv1", makeConv(imageShape.at(0), kConv1Channels))),
      conv2_(register_module("conv2", makeConv(kConv1Channels, kConv2Channels))),
      dense_(*this, kConv2Channels * kPooledSide * kPooledSide, hidden, classes) {}

at::Tensor Cnn::forward(const at::Tensor& x) {
  std::vector<int64_t> shape{x.size(0)};
  shape.insert(shape.end(), imageShape_.begin(), imageShape_.end());
  at::Tensor y = at::relu(conv1_->forward(x.reshape(shape)));
  if (y.size(2) >= 2 && y.size(3) >= 2) y = at::max_pool2d(y, {2, 2});
  y = at::relu(conv2_->forward(y));
  y = at::adaptive_avg_pool2d(y, {kPooledSide, kPooledSide});
  return dense_.forward(y.flatten(1));
}

}  // namespace ringtrain::models

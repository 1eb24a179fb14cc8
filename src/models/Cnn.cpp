#include "Cnn.h"

#include "DenseLayers.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>

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
         int64_t classes) {
  torch::nn::Conv2d conv1 = register_module("conv1", makeConv(imageShape.at(0), kConv1Channels));
  torch::nn::Conv2d conv2 = register_module("conv2", makeConv(kConv1Channels, kConv2Channels));
  addLayer({"conv1", conv1.ptr(), [conv1, imageShape](const at::Tensor& x) mutable {
              std::vector<int64_t> shape{x.size(0)};
              shape.insert(shape.end(), imageShape.begin(), imageShape.end());
              at::Tensor y = at::relu(conv1->forward(x.reshape(shape)));
              if (y.size(2) >= 2 && y.size(3) >= 2) y = at::max_pool2d(y, {2, 2});
              return y;
            }});
  addLayer({"conv2", conv2.ptr(), [conv2](const at::Tensor& x) mutable {
              return at::adaptive_avg_pool2d(at::relu(conv2->forward(x)),
                                             {kPooledSide, kPooledSide})
                  .flatten(1);
            }});
  for (Layer& layer : makeDenseLayers(*this, kConv2Channels * kPooledSide * kPooledSide, hidden,
                                      classes, /*flattenInput=*/false)) {
    addLayer(std::move(layer));
  }
}

}  // namespace ringtrain::models

// Small convolutional classifier for images [C, H, W]: two 3x3 conv + ReLU layers (the first
// followed by 2x2 max pooling), adaptive average pooling to 4x4, then dense layers.
#pragma once

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

// The image a CNN reads from samples of `inputShape`: [C, H, W] itself, or [1, s, s] for flat rows
// of a square number of pixels (MNIST as CSV). UserError for anything else.
std::vector<int64_t> cnnImageShape(const std::vector<int64_t>& inputShape);

class Cnn final : public Classifier {
 public:
  Cnn(const std::vector<int64_t>& imageShape, const std::vector<int64_t>& hidden, int64_t classes);
};

}  // namespace ringtrain::models

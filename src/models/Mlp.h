// Fully connected classifier; flattens each sample.
#pragma once

#include "DenseLayers.h"
#include "ringtrain/models/Model.h"

namespace ringtrain::models {

class Mlp final : public Classifier {
 public:
  Mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes);
  at::Tensor forward(const at::Tensor& x) override;

 private:
  DenseLayers dense_;
};

}  // namespace ringtrain::models

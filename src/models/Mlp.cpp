#include "Mlp.h"

namespace ringtrain::models {

Mlp::Mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes)
    : dense_(*this, inputs, hidden, classes) {}

at::Tensor Mlp::forward(const at::Tensor& x) {
  return dense_.forward(x.flatten(1));
}

}  // namespace ringtrain::models

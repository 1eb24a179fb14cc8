// Fully connected classifier; flattens each sample.
#pragma once

#include "ringtrain/models/Model.h"

namespace ringtrain::models {

class Mlp final : public Classifier {
 public:
  Mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes);
};

}  // namespace ringtrain::models

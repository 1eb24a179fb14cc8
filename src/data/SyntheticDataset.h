// The built-in data set: inputs x ~ N(0, I) labelled by the argmax of a fixed random teacher
// network tanh(x W1) W2. Inputs whose two largest teacher logits lie closer than a margin are
// redrawn, so classes are separated by a gap and a student network can reach high accuracy quickly.
// It is deterministic from the seed, and any size.
#pragma once

#include <cstdint>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

struct SyntheticSpec {
  int64_t size = 0;
  int64_t dim = 64;
  int64_t classes = 10;
};

// The teacher depends only on (seed, dim, classes); the inputs also on the split, so validation
// samples are fresh draws from the same distribution.
Dataset makeSynthetic(const SyntheticSpec& spec, uint64_t seed, Split split);

}  // namespace ringtrain::data

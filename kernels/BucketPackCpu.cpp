#include "BucketPack.h"

namespace ringtrain::kernels {

void packScaledCpu(const std::vector<FloatSpan>& sources, float* bucket, float scale) {
  float* slot = bucket;
  for (const FloatSpan& source : sources) {
    for (int64_t i = 0; i < source.size; ++i) slot[i] = source.data[i] * scale;
    slot += source.size;
  }
}

}  // namespace ringtrain::kernels

#include "BucketPack.h"
#include "MultiTensorLaunch.cuh"

namespace ringtrain::kernels {
namespace {

struct PackSpan {
  const float* source;
  float* slot;
  int64_t size;
};

struct Scale {
  float value;
  __device__ void operator()(const PackSpan& span, const char&, int64_t i) const {
    span.slot[i] = span.source[i] * value;
  }
};

}  // namespace

void packScaledCuda(const std::vector<FloatSpan>& sources, float* bucket, float scale,
                    void* stream) {
  std::vector<PackSpan> spans;
  float* slot = bucket;
  for (const FloatSpan& source : sources) {
    spans.push_back({source.data, slot, source.size});
    slot += source.size;
  }
  forEachElement(spans, std::vector<char>(spans.size()), Scale{scale}, stream, "packScaled");
}

}  // namespace ringtrain::kernels

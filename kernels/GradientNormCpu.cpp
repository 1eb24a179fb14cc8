#include "GradientNorm.h"

namespace ringtrain::kernels {
namespace {

// Eight independent lanes let the compiler vectorise without reassociating a single sum.
float blockSumOfSquares(const float* data, int64_t size) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    for (int lane = 0; lane < 8; ++lane) lanes[lane] += data[i + lane] * data[i + lane];
  }
  for (; i < size; ++i) lanes[i % 8] += data[i] * data[i];
  float total = 0;
  for (const float lane : lanes) total += lane;
  return total;
}

}  // namespace

double sumOfSquaresCpu(const std::vector<FloatSpan>& spans) {
  double total = 0;
  for (const FloatSpan& span : spans) {
    for (int64_t start = 0; start < span.size; start += kNormBlock) {
      const int64_t size = span.size - start < kNormBlock ? span.size - start : kNormBlock;
      total += blockSumOfSquares(span.data + start, size);
    }
  }
  return total;
}

}  // namespace ringtrain::kernels

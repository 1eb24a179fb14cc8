// The sum of squares of many float32 arrays: the squared global L2 norm of a model's gradients,
// which is also their non-finite check, since any NaN or infinity makes it non-finite. One pass
// over memory, multi-tensor, with the same semantics on the host and on the GPU: squares summed
// in float32 within blocks of kNormBlock elements, blocks summed in float64.
#pragma once

#include <cstdint>
#include <vector>

#include "Spans.h"

namespace ringtrain::kernels {

constexpr int64_t kNormBlock = 256;

// On the host: deterministic, whatever the sizes.
double sumOfSquaresCpu(const std::vector<FloatSpan>& spans);

// On the GPU: `spans` in device memory; `*result` (one double in device memory) is set on
// `stream` (a cudaStream_t). Block sums are added in whatever order the GPU finishes them.
void sumOfSquaresCuda(const std::vector<FloatSpan>& spans, double* result, void* stream);

}  // namespace ringtrain::kernels

// Gathers gradients into their slots of a flat bucket, each multiplied by `scale`: the reducer's
// copy of a gradient into its bucket with the 1/world of the average folded in, so that buckets
// are summed across ranks without another pass over them (as c10d's reducer does).
#pragma once

#include <vector>

#include "Spans.h"

namespace ringtrain::kernels {

// bucket[offset + j] = sources[i].data[j] * scale, the sources laid end to end from bucket[0]. A
// single source may be the bucket itself (scaling in place); otherwise they must not overlap it.
void packScaledCpu(const std::vector<FloatSpan>& sources, float* bucket, float scale);

// The same in device memory, enqueued on `stream` (a cudaStream_t).
void packScaledCuda(const std::vector<FloatSpan>& sources, float* bucket, float scale,
                    void* stream);

}  // namespace ringtrain::kernels

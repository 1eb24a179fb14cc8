// The views the kernels take: a pointer and an element count, in host or device memory alike, so
// that one list of them describes a multi-tensor operation to the host reference and to the GPU.
#pragma once

#include <cstdint>

namespace ringtrain::kernels {

struct FloatSpan {
  const float* data;
  int64_t size;
};

// Whether the CUDA launchers were built; without them they throw.
bool cudaKernelsCompiledIn();

}  // namespace ringtrain::kernels

// Element operations written once for the host reference and the CUDA kernel, so that the two
// cannot drift apart: compiled by the host compiler as plain inline functions, and by nvcc for both
// sides.
#pragma once

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define RINGTRAIN_HOST_DEVICE __host__ __device__ inline
#else
#define RINGTRAIN_HOST_DEVICE inline
#endif

namespace ringtrain::kernels {

RINGTRAIN_HOST_DEVICE uint32_t bitsOf(float value) {
  uint32_t bits;
  memcpy(&bits, &value, sizeof(bits));
  return bits;
}

RINGTRAIN_HOST_DEVICE float floatFromBits(uint32_t bits) {
  float value;
  memcpy(&value, &bits, sizeof(value));
  return value;
}

}  // namespace ringtrain::kernels

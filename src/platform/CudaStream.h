// The CUDA stream LibTorch currently enqueues work on, for kernels of our own that must run in
// order with it; as a void* (a cudaStream_t) so that callers need no CUDA headers.
#pragma once

#include <cstdint>
#include <string>

namespace ringtrain::platform {

// UserError in builds without CUDA.
void* currentCudaStream(int device);

// The most memory LibTorch's CUDA caching allocator has had allocated on `device` so far, in
// bytes (0 in builds without CUDA).
int64_t peakCudaMemoryBytes(int device);
// What it has allocated now, in bytes (0 in builds without CUDA).
int64_t cudaMemoryBytes(int device);

// The name CUDA gives `device` ("NVIDIA H100 80GB HBM3"); empty in builds without CUDA.
std::string cudaDeviceName(int device);

}  // namespace ringtrain::platform

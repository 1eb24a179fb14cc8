// The CUDA stream LibTorch currently enqueues work on, for kernels of our own that must run in
// order with it; as a void* (a cudaStream_t) so that callers need no CUDA headers.
#pragma once

#include <cstdint>

namespace ringtrain::platform {

// UserError in builds without CUDA.
void* currentCudaStream(int device);

// The most memory LibTorch's CUDA caching allocator has had allocated on `device` so far, in
// bytes (0 in builds without CUDA).
int64_t peakCudaMemoryBytes(int device);

}  // namespace ringtrain::platform

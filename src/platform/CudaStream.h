// The CUDA stream LibTorch currently enqueues work on, for kernels of our own that must run in
// order with it; as a void* (a cudaStream_t) so that callers need no CUDA headers.
#pragma once

namespace ringtrain::platform {

// UserError in builds without CUDA.
void* currentCudaStream(int device);

}  // namespace ringtrain::platform

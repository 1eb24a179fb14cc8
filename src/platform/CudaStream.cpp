#include "platform/CudaStream.h"

#include <c10/cuda/CUDAStream.h>

namespace ringtrain::platform {

void* currentCudaStream(int device) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

}  // namespace ringtrain::platform

// The CUDA-only parts of platform/ in builds without CUDA.
#include "platform/CudaProbe.h"
#include "platform/CudaStream.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::platform {

void* currentCudaStream(int) {
  throw UserError("this ringtrain was built without CUDA (RINGTRAIN_CUDA=OFF)");
}

int64_t peakCudaMemoryBytes(int) {
  return 0;
}

int64_t cudaMemoryBytes(int) {
  return 0;
}

std::string cudaDeviceName(int) {
  return "";
}

CudaProbe probeCuda() {
  return {};
}

}  // namespace ringtrain::platform

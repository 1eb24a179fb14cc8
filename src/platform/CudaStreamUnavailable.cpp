#include "platform/CudaStream.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::platform {

void* currentCudaStream(int) {
  throw UserError("this ringtrain was built without CUDA (RINGTRAIN_CUDA=OFF)");
}

}  // namespace ringtrain::platform

// Stand-ins for the CUDA launchers in builds without CUDA: nothing calls them there, since no
// tensor is on a GPU; if something does, it says why it cannot work.
#include <stdexcept>

#include "GradientNorm.h"

namespace ringtrain::kernels {

void sumOfSquaresCuda(const std::vector<FloatSpan>&, double*, void*) {
  throw std::logic_error("this ringtrain was built without CUDA kernels (RINGTRAIN_CUDA=OFF)");
}

bool cudaKernelsCompiledIn() {
  return false;
}

}  // namespace ringtrain::kernels

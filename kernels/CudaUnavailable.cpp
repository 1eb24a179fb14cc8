// Stand-ins for the CUDA launchers in builds without CUDA: nothing calls them there, since no
// tensor is on a GPU; if something does, it says why it cannot work.
#include <stdexcept>

#include "BucketPack.h"
#include "GradientNorm.h"
#include "OptimizerStep.h"
#include "WireCast.h"

namespace ringtrain::kernels {
namespace {

[[noreturn]] void unavailable() {
  throw std::logic_error("this ringtrain was built without CUDA kernels (RINGTRAIN_CUDA=OFF)");
}

}  // namespace

void sumOfSquaresCuda(const std::vector<FloatSpan>&, double*, void*) {
  unavailable();
}
void packScaledCuda(const std::vector<FloatSpan>&, float*, float, void*) {
  unavailable();
}
void narrowScaledCuda(const float*, uint16_t*, int64_t, float, WireFormat, void*) {
  unavailable();
}
void widenCuda(const uint16_t*, float*, int64_t, WireFormat, void*) {
  unavailable();
}
void sgdStepCuda(const std::vector<SgdSpan>&, const SgdSettings&, bool, void*) {
  unavailable();
}
void adamWStepCuda(const std::vector<AdamWSpan>&, const std::vector<AdamWFactors>&,
                   const AdamWSettings&, void*) {
  unavailable();
}

bool cudaKernelsCompiledIn() {
  return false;
}

}  // namespace ringtrain::kernels

#include "MultiTensorLaunch.cuh"
#include "OptimizerStep.h"

namespace ringtrain::kernels {
namespace {

template <SgdMode kMode, bool kDecay>
struct Sgd {
  SgdSettings settings;
  __device__ void operator()(const SgdSpan& span, const char&, int64_t i) const {
    sgdUpdate<kMode, kDecay>(span, i, settings);
  }
};

struct SgdLaunch {
  const std::vector<SgdSpan>& spans;
  const SgdSettings& settings;
  void* stream;
  template <SgdMode kMode, bool kDecay>
  void run() const {
    forEachElement(spans, std::vector<char>(spans.size()), Sgd<kMode, kDecay>{settings}, stream,
                   "sgdStep");
  }
};

struct AdamW {
  AdamWSettings settings;
  __device__ void operator()(const AdamWSpan& span, const AdamWFactors& factors, int64_t i) const {
    adamWUpdate(span, i, settings, factors);
  }
};

}  // namespace

void sgdStepCuda(const std::vector<SgdSpan>& spans, const SgdSettings& settings, bool firstStep,
                 void* stream) {
  visitSgdUpdate(settings, firstStep, SgdLaunch{spans, settings, stream});
}

void adamWStepCuda(const std::vector<AdamWSpan>& spans, const std::vector<AdamWFactors>& factors,
                   const AdamWSettings& settings, void* stream) {
  forEachElement(spans, factors, AdamW{settings}, stream, "adamWStep");
}

}  // namespace ringtrain::kernels

#include "OptimizerStep.h"

namespace ringtrain::kernels {
namespace {

struct SgdLoop {
  const std::vector<SgdSpan>& spans;
  const SgdSettings& settings;
  template <SgdMode kMode, bool kDecay>
  void run() const {
    for (const SgdSpan& span : spans) {
      for (int64_t i = 0; i < span.size; ++i) sgdUpdate<kMode, kDecay>(span, i, settings);
    }
  }
};

}  // namespace

void sgdStepCpu(const std::vector<SgdSpan>& spans, const SgdSettings& settings, bool firstStep) {
  visitSgdUpdate(settings, firstStep, SgdLoop{spans, settings});
}

void adamWStepCpu(const std::vector<AdamWSpan>& spans, const std::vector<AdamWFactors>& factors,
                  const AdamWSettings& settings) {
  for (size_t s = 0; s < spans.size(); ++s) {
    const AdamWSpan span = spans[s];
    const AdamWFactors spanFactors = factors[s];
    for (int64_t i = 0; i < span.size; ++i) adamWUpdate(span, i, settings, spanFactors);
  }
}

}  // namespace ringtrain::kernels

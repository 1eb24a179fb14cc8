// Fused multi-tensor optimizer steps: every parameter of a group updated in one pass over its
// memory (parameter, gradient and state read once, written once), instead of LibTorch's several
// passes per tensor. The element updates are in OptimizerUpdate.h.
#pragma once

#include <vector>

#include "OptimizerUpdate.h"
#include "Spans.h"

namespace ringtrain::kernels {

void sgdStepCpu(const std::vector<SgdSpan>& spans, const SgdSettings& settings, bool firstStep);
void adamWStepCpu(const std::vector<AdamWSpan>& spans, const std::vector<AdamWFactors>& factors,
                  const AdamWSettings& settings);

// The same in device memory, enqueued on `stream` (a cudaStream_t). `factors` has one entry per
// span.
void sgdStepCuda(const std::vector<SgdSpan>& spans, const SgdSettings& settings, bool firstStep,
                 void* stream);
void adamWStepCuda(const std::vector<AdamWSpan>& spans, const std::vector<AdamWFactors>& factors,
                   const AdamWSettings& settings, void* stream);

}  // namespace ringtrain::kernels

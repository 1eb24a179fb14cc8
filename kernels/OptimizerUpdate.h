// One element's update of SGD with momentum and of AdamW, in float32 and in the order of
// operations of LibTorch's torch::optim::SGD and torch::optim::AdamW, so that the fused steps stay
// interchangeable with them (and with their checkpoints).
#pragma once

#include <cmath>

#include "HostDevice.h"

namespace ringtrain::kernels {

// Hyperparameters as LibTorch hands them to its float32 kernels: derived in double (1 - dampening),
// then rounded once.
struct SgdSettings {
  float negativeLearningRate;
  float momentum;
  float oneMinusDampening;
  float weightDecay;
  bool nesterov;
};

inline SgdSettings sgdSettings(double learningRate, double momentum, double dampening,
                               double weightDecay, bool nesterov) {
  return {static_cast<float>(-learningRate), static_cast<float>(momentum),
          static_cast<float>(1 - dampening), static_cast<float>(weightDecay), nesterov};
}

struct SgdSpan {
  float* parameter;
  const float* gradient;
  float* momentum;  // null when SgdSettings::momentum is 0
  int64_t size;
};

// What one SGD update does, fixed at compile time so that the loops have no branches (and the host
// compiler vectorises them): plain, or with momentum (starting the buffer from this gradient on a
// parameter's first step, blending into it afterwards), with or without Nesterov.
enum class SgdMode { kPlain, kMomentumFirst, kMomentum, kNesterovFirst, kNesterov };

inline SgdMode sgdMode(const SgdSettings& settings, bool firstStep) {
  if (settings.momentum == 0) return SgdMode::kPlain;
  if (settings.nesterov) return firstStep ? SgdMode::kNesterovFirst : SgdMode::kNesterov;
  return firstStep ? SgdMode::kMomentumFirst : SgdMode::kMomentum;
}

template <SgdMode kMode, bool kDecay>
RINGTRAIN_HOST_DEVICE void sgdUpdate(const SgdSpan& span, int64_t i, const SgdSettings& settings) {
  float direction = span.gradient[i];
  if constexpr (kDecay) direction = direction + settings.weightDecay * span.parameter[i];
  if constexpr (kMode != SgdMode::kPlain) {
    constexpr bool first = kMode == SgdMode::kMomentumFirst || kMode == SgdMode::kNesterovFirst;
    constexpr bool nesterov = kMode == SgdMode::kNesterovFirst || kMode == SgdMode::kNesterov;
    float buffer = direction;
    if constexpr (!first) {
      buffer = span.momentum[i] * settings.momentum + settings.oneMinusDampening * direction;
    }
    span.momentum[i] = buffer;
    if constexpr (nesterov) {
      direction = direction + settings.momentum * buffer;
    } else {
      direction = buffer;
    }
  }
  span.parameter[i] = span.parameter[i] + settings.negativeLearningRate * direction;
}

// Calls visitor.template run<mode, decay>() for the update these settings ask for.
template <typename Visitor>
void visitSgdUpdate(const SgdSettings& settings, bool firstStep, const Visitor& visitor) {
  const bool decay = settings.weightDecay != 0;
#define RINGTRAIN_SGD_CASE(mode) \
  case mode:                     \
    return decay ? visitor.template run<mode, true>() : visitor.template run<mode, false>();
  switch (sgdMode(settings, firstStep)) {
    RINGTRAIN_SGD_CASE(SgdMode::kPlain)
    RINGTRAIN_SGD_CASE(SgdMode::kMomentumFirst)
    RINGTRAIN_SGD_CASE(SgdMode::kMomentum)
    RINGTRAIN_SGD_CASE(SgdMode::kNesterovFirst)
    RINGTRAIN_SGD_CASE(SgdMode::kNesterov)
  }
#undef RINGTRAIN_SGD_CASE
}

struct AdamWSettings {
  float beta1;
  float oneMinusBeta1;
  float beta2;
  float oneMinusBeta2;
  float epsilon;
};

inline AdamWSettings adamWSettings(double beta1, double beta2, double epsilon) {
  return {static_cast<float>(beta1), static_cast<float>(1 - beta1), static_cast<float>(beta2),
          static_cast<float>(1 - beta2), static_cast<float>(epsilon)};
}

struct AdamWSpan {
  float* parameter;
  const float* gradient;
  float* firstMoment;
  float* secondMoment;
  int64_t size;
};

// Per parameter, since each counts its own steps (`step`: this update's number, from 1); computed
// in double as LibTorch does and rounded once.
struct AdamWFactors {
  float decay;             // 1 - lr * weight decay: exactly 1 without weight decay
  float sqrtCorrection2;   // sqrt(1 - beta2^step)
  float negativeStepSize;  // -lr / (1 - beta1^step)
};

inline AdamWFactors adamWFactors(double learningRate, double weightDecay, double beta1,
                                 double beta2, int64_t step) {
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  return {static_cast<float>(1 - learningRate * weightDecay),
          static_cast<float>(std::sqrt(correction2)),
          static_cast<float>(-learningRate / correction1)};
}

RINGTRAIN_HOST_DEVICE void adamWUpdate(const AdamWSpan& span, int64_t i,
                                       const AdamWSettings& settings, const AdamWFactors& factors) {
  // LibTorch skips the decay without weight decay; multiplying by exactly 1 changes nothing.
  const float parameter = span.parameter[i] * factors.decay;
  const float gradient = span.gradient[i];
  const float first = span.firstMoment[i] * settings.beta1 + settings.oneMinusBeta1 * gradient;
  const float second =
      span.secondMoment[i] * settings.beta2 + settings.oneMinusBeta2 * gradient * gradient;
  span.firstMoment[i] = first;
  span.secondMoment[i] = second;
  const float denominator = sqrtf(second) / factors.sqrtCorrection2 + settings.epsilon;
  span.parameter[i] = parameter + factors.negativeStepSize * (first / denominator);
}

}  // namespace ringtrain::kernels

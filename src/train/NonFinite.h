// Catching a step whose loss or gradients are not finite before it reaches the weights. After the
// gradient allreduce every rank holds the same loss and gradients, so every rank reaches the same
// verdict without communicating.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// --on-nonfinite skip gives up, as diverged, after this many skipped steps in a row.
constexpr int kMaxConsecutiveSkips = 10;

// The sum of the squares of every element of `tensors`, in float64 (kernels/GradientNorm.h, the
// same bits for the same tensors on the host). Waits for the device.
double sumOfSquares(const std::vector<at::Tensor>& tensors);
// The same for each group of tensors, waiting for the device once.
std::vector<double> sumsOfSquares(const std::vector<std::vector<at::Tensor>>& groups);

// The global L2 norm of the defined gradients (kernels/GradientNorm.h): finite exactly when every
// element is. Waits for the device.
double gradientMagnitude(const std::vector<at::Tensor>& parameters);

// What was not finite, for messages, or nullopt when the step is sound.
std::optional<std::string> nonFiniteProblem(double loss, double gradientMagnitude);

}  // namespace ringtrain::train

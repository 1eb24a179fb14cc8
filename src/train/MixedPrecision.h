// --precision fp32|bf16|fp16: the forward pass under autocast in the lower precision, while the
// weights, their gradients and the optimizer stay float32 ("master weights"). fp16's narrow range
// needs dynamic loss scaling: the loss is multiplied by a large scale before backward so small
// gradients do not flush to zero, the gradients are divided by it again before the update, and a
// step whose gradients overflowed is skipped and the scale halved (as PyTorch's GradScaler does).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

std::string precisionName(Precision precision);
Precision parsePrecision(const std::string& flag, const std::string& text);

// Autocast on `device` in `precision` for as long as it lives (nothing for fp32); what was set
// before comes back afterwards.
class AutocastScope {
 public:
  AutocastScope(Precision precision, c10::DeviceType device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_;
  c10::DeviceType device_;
  bool wasEnabled_ = false;
  at::ScalarType wasType_ = at::kFloat;
};

class LossScaler {
 public:
  // Disabled, the scale is 1 and every step may update.
  LossScaler(bool enabled, const LossScaling& settings);

  bool enabled() const { return enabled_; }
  double scale() const { return scale_; }
  // Divides the gradients by the scale (one multi-tensor pass); nothing when disabled.
  void unscale(const std::vector<at::Tensor>& parameters) const;
  // After a step's gradients were checked. Overflow: the scale halves, and the answer is whether
  // it is still above the smallest (false: treat the step as diverged). Otherwise the scale
  // doubles after growthInterval clean steps in a row.
  bool record(bool overflowed);

  nlohmann::json state() const;
  void restore(const nlohmann::json& state);

 private:
  bool enabled_;
  LossScaling settings_;
  double scale_;
  int64_t cleanSteps_ = 0;
};

}  // namespace ringtrain::train

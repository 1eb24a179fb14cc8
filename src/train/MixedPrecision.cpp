#include "train/MixedPrecision.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <climits>

#include "ringtrain/util/Error.h"
#include "util/JsonFields.h"

namespace ringtrain::train {

std::string precisionName(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
    case Precision::kFp32:
      break;
  }
  return "fp32";
}

Precision parsePrecision(const std::string& flag, const std::string& text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "bf16") return Precision::kBf16;
  if (text == "fp16") return Precision::kFp16;
  throw UserError("--" + flag + " must be fp32|bf16|fp16, got '" + text + "'");
}

AutocastScope::AutocastScope(Precision precision, c10::DeviceType device)
    : active_(precision != Precision::kFp32), device_(device) {
  if (!active_) return;
  // What torch.autocast's __enter__ does.
  wasEnabled_ = at::autocast::is_autocast_enabled(device_);
  wasType_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_,
                                   precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The weights cast for this forward pass are cached until the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, wasEnabled_);
  at::autocast::set_autocast_dtype(device_, wasType_);
}

LossScaler::LossScaler(bool enabled, const LossScaling& settings)
    : enabled_(enabled), settings_(settings), scale_(enabled ? settings.initialScale : 1.0) {
  RINGTRAIN_USER_CHECK(settings.initialScale >= settings.smallestScale && settings.initialScale > 0,
                       "the initial loss scale must be at least " << settings.smallestScale);
}

void LossScaler::unscale(const std::vector<at::Tensor>& parameters) const {
  if (!enabled_) return;
  std::vector<at::Tensor> gradients;
  for (const at::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  if (!gradients.empty()) at::_foreach_mul_(gradients, 1.0 / scale_);
}

bool LossScaler::record(bool overflowed) {
  if (!enabled_) return !overflowed;
  if (overflowed) {
    cleanSteps_ = 0;
    if (scale_ / 2 < settings_.smallestScale) return false;
    scale_ /= 2;
    return true;
  }
  if (++cleanSteps_ == settings_.growthInterval) {
    cleanSteps_ = 0;
    scale_ *= 2;
  }
  return true;
}

nlohmann::json LossScaler::state() const {
  return {{"scale", scale_}, {"clean_steps", cleanSteps_}};
}

void LossScaler::restore(const nlohmann::json& state) {
  if (!enabled_ || state.is_null()) return;
  scale_ = state.at("scale").get<double>();
  cleanSteps_ = wholeNumber(state.at("clean_steps"), 0, INT64_MAX, "the loss scaler's clean_steps");
  RINGTRAIN_USER_CHECK(scale_ >= settings_.smallestScale && cleanSteps_ >= 0,
                       "a checkpoint holds a loss scale of " << scale_);
}

}  // namespace ringtrain::train

#include "health/Progress.h"

#include <array>
#include <atomic>

namespace ringtrain::health {
namespace {

std::atomic<int64_t> currentStep{0};
std::atomic<uint8_t> currentPhase{static_cast<uint8_t>(Phase::kStarting)};

constexpr std::array<const char*, 8> kNames = {"starting",   "waiting for data", "forward",
                                               "backward",   "optimizer step",   "checkpoint",
                                               "evaluation", "finishing"};

}  // namespace

const char* phaseName(Phase phase) {
  const auto index = static_cast<size_t>(phase);
  return index < kNames.size() ? kNames[index] : "unknown";
}

std::optional<Phase> phaseNamed(const std::string& name) {
  for (size_t index = 0; index < kNames.size(); ++index) {
    if (name == kNames[index]) return static_cast<Phase>(index);
  }
  return std::nullopt;
}

void markPhase(Phase phase) {
  currentPhase.store(static_cast<uint8_t>(phase), std::memory_order_relaxed);
}

void beginStep(int64_t step) {
  currentStep.store(step, std::memory_order_relaxed);
  markPhase(Phase::kData);
}

ProgressMark currentProgress() {
  return {currentStep.load(std::memory_order_relaxed),
          static_cast<Phase>(currentPhase.load(std::memory_order_relaxed))};
}

}  // namespace ringtrain::health

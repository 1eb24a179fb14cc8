// Where this rank is in its work: the step it trains and the phase of that step, set by the
// training loop at each change and read by other threads (the heartbeats that tell the other
// ranks, the reports that name where a rank stopped). Setting a mark is two relaxed atomic stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ringtrain::health {

enum class Phase : uint8_t {
  kStarting,  // before the first step: loading data, building the model, agreeing
  kData,      // waiting for a batch
  kForward,
  kBackward,   // backward, with the gradient communication it overlaps
  kOptimizer,  // reducing what is left, clipping, the update
  kCheckpoint,
  kEvaluation,
  kFinishing,  // after the last step: final outputs
};

// "forward", "waiting for data", ...
const char* phaseName(Phase phase);
// The phase a name stands for, or nothing.
std::optional<Phase> phaseNamed(const std::string& name);

struct ProgressMark {
  int64_t step = 0;  // the step being trained, from 1; 0 before the first
  Phase phase = Phase::kStarting;
};

void markPhase(Phase phase);
// Step `step` begins, waiting for its data.
void beginStep(int64_t step);
ProgressMark currentProgress();

}  // namespace ringtrain::health

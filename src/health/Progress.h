// Where this rank is in its work: the step it trains and the phase of that step, set by the
// training loop at each change and read by other threads (the heartbeats that tell the other
// ranks, the reports that name where a rank stopped, the flight record). Setting a mark costs a
// few relaxed atomic stores.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
// The step just begun has no data after all (its epoch ended): it never happened, and the rank is
// back in the step and phase before it.
void abandonStep();
ProgressMark currentProgress();

// The phases this rank went through lately, each with when it began (nanoseconds since the epoch):
// the other half of its flight record (comm/CallLog.h). A ring of the last 1024 marks, written by
// the training thread only; reading while it writes may see one entry torn.
struct PhaseRecord {
  ProgressMark mark;
  int64_t startNs = 0;
};
std::vector<PhaseRecord> recentPhases();
// The marks since the one numbered `next` (0: the first of this process), as CallLog::since.
std::vector<PhaseRecord> phasesSince(uint64_t& next, uint64_t& lost);

// For tests of what a rank stuck while alive looks like: with RINGTRAIN_TEST_HANG_AT=R:S:PHASE in
// the environment (e.g. 2:20:backward), rank `rank` == R stops for good when it enters PHASE of
// step S, its other threads (heartbeats) running on. Nothing otherwise.
void armTestHang(int rank);

}  // namespace ringtrain::health

#include "health/Progress.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include "comm/CallLog.h"
#include "health/Trace.h"

namespace ringtrain::health {
namespace {

std::atomic<int64_t> currentStep{0};
std::atomic<uint8_t> currentPhase{static_cast<uint8_t>(Phase::kStarting)};

struct PhaseSlot {
  std::atomic<int64_t> step{0};
  std::atomic<uint8_t> phase{0};
  std::atomic<int64_t> startNs{0};
};
constexpr uint64_t kPhaseRing = 1024;
std::array<PhaseSlot, kPhaseRing> phaseRing;
std::atomic<uint64_t> marks{0};

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

namespace {

std::atomic<int64_t> hangStep{-1};
std::atomic<uint8_t> hangPhase{0};

// The test hook (armTestHang).
void stopIfAsked(Phase phase) {
  if (currentStep.load(std::memory_order_relaxed) == hangStep.load(std::memory_order_relaxed) &&
      static_cast<uint8_t>(phase) == hangPhase.load(std::memory_order_relaxed)) {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
}

// A new phase begins (or the same again, at a new step).
void record(Phase phase) {
  currentPhase.store(static_cast<uint8_t>(phase), std::memory_order_relaxed);
  static const bool recording = comm::flightRecorderOn();
  if (!recording) {
    stopIfAsked(phase);
    return;
  }
  const uint64_t index = marks.load(std::memory_order_relaxed);
  PhaseSlot& slot = phaseRing[index % kPhaseRing];
  slot.step.store(currentStep.load(std::memory_order_relaxed), std::memory_order_relaxed);
  slot.phase.store(static_cast<uint8_t>(phase), std::memory_order_relaxed);
  slot.startNs.store(comm::wallClockNs(), std::memory_order_relaxed);
  marks.store(index + 1, std::memory_order_release);
  stopIfAsked(phase);
}

}  // namespace

void markPhase(Phase phase) {
  if (static_cast<uint8_t>(phase) != currentPhase.load(std::memory_order_relaxed)) record(phase);
}

std::vector<PhaseRecord> phasesSince(uint64_t& next, uint64_t& lost) {
  const uint64_t count = marks.load(std::memory_order_acquire);
  const uint64_t first = count > kPhaseRing ? count - kPhaseRing : 0;
  if (next < first) {
    lost += first - next;
    next = first;
  }
  std::vector<PhaseRecord> phases;
  for (; next < count; ++next) {
    const PhaseSlot& slot = phaseRing[next % kPhaseRing];
    phases.push_back({{slot.step.load(std::memory_order_relaxed),
                       static_cast<Phase>(slot.phase.load(std::memory_order_relaxed))},
                      slot.startNs.load(std::memory_order_relaxed)});
  }
  return phases;
}

std::vector<PhaseRecord> recentPhases() {
  uint64_t next = 0;
  uint64_t lost = 0;
  return phasesSince(next, lost);
}

namespace {

// Where the training thread was before the step it began last, for abandonStep.
struct BeforeStep {
  int64_t step = 0;
  uint8_t phase = 0;
  uint64_t marks = 0;
};
BeforeStep beforeStep;

}  // namespace

void beginStep(int64_t step) {
  traceStepBegins(step);  // before the step's first mark, which belongs to the step
  // The step before is `step` - 1, whatever this process marked last (a resumed run begins at
  // its checkpoint's step + 1).
  beforeStep = {step - 1, currentPhase.load(std::memory_order_relaxed),
                marks.load(std::memory_order_relaxed)};
  currentStep.store(step, std::memory_order_relaxed);
  record(Phase::kData);
}

void abandonStep() {
  currentStep.store(beforeStep.step, std::memory_order_relaxed);
  currentPhase.store(beforeStep.phase, std::memory_order_relaxed);
  marks.store(beforeStep.marks, std::memory_order_release);  // its mark is forgotten
  traceStepAbandoned();
}

void armTestHang(int rank) {
  const char* at = std::getenv("RINGTRAIN_TEST_HANG_AT");
  if (at == nullptr) return;
  std::istringstream fields(at);
  int hangRank = -1;
  int64_t step = -1;
  char colon = 0;
  std::string phase;
  fields >> hangRank >> colon >> step >> colon;
  std::getline(fields, phase);
  const std::optional<Phase> named = phaseNamed(phase);
  if (hangRank != rank || !named) return;
  std::cerr << "ringtrain: warning: RINGTRAIN_TEST_HANG_AT is set: rank " << rank
            << " stops for good in " << phaseName(*named) << " of step " << step << " (a test hook)"
            << std::endl;
  hangPhase.store(static_cast<uint8_t>(*named));
  hangStep.store(step);
}

ProgressMark currentProgress() {
  return {currentStep.load(std::memory_order_relaxed),
          static_cast<Phase>(currentPhase.load(std::memory_order_relaxed))};
}

}  // namespace ringtrain::health

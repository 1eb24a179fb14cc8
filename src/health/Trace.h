// `ringtrain train --trace`: a timeline of a window of steps for all ranks. Each rank keeps what
// its flight record (FlightRecord.h) saw in the window, a step at a time as the steps begin, so the
// flight record's rings need only hold one step; at the run's end rank 0 gathers the ranks' parts
// into one trace (Timeline.h).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::health {

struct TraceWindow {
  int64_t firstStep = 0;  // from 1
  int64_t lastStep = 0;
};

// Every rank, before its first step: keep what it does from the start of step `firstStep` (or of
// the first step after it that this run trains) to the start of step `lastStep` + 1.
void traceSteps(TraceWindow window);
// Step `step` begins (health::beginStep calls it): the window opens, takes in the step before, or
// closes.
void traceStepBegins(int64_t step);
// The step just begun never happened (health::abandonStep calls it), nor did what its beginning
// did to the window.
void traceStepAbandoned();

struct CollectedTrace {
  nlohmann::json trace;   // in the Chrome trace event format
  int64_t firstStep = 0;  // the steps it holds
  int64_t lastStep = 0;
  // Calls and phase marks that went by between two steps' beginnings faster than the flight
  // record's rings could hold them (1024 of each), over all ranks.
  int64_t lostCalls = 0;
  int64_t lostPhases = 0;
  int ranksMissing = 0;  // whose parts could not be made or read
  std::string problem;   // why there is no trace after all (it could not be put together)
};
// Collective over `control` when traceSteps was called on every rank, at the end of the run (a
// window still open ends now): rank 0 returns the trace of all ranks, the others nothing; nothing
// anywhere when the window held no step of this run or traceSteps was not called. A rank whose
// part cannot be made or read is missing from the trace ("ranks_missing"); the run goes on.
std::optional<CollectedTrace> collectTrace(comm::Communicator& control);

}  // namespace ringtrain::health

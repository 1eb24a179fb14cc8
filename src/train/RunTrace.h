// `--trace FILE --trace-steps A:B`: rank 0 writes a timeline of steps A to B of every rank
// (health/Trace.h), in the Chrome trace event format that Perfetto and chrome://tracing open.
#pragma once

#include <string>

#include "ringtrain/comm/Communicator.h"
#include "ringtrain/train/TrainConfig.h"
#include "train/RunLog.h"
#include "train/RunPlan.h"

namespace ringtrain::train {

// Steps traced when --trace-steps is not given: the second to fifth of this run (its first has
// one-off costs: warming caches, allocating).
inline constexpr int64_t kTracedStepsSkipped = 1;
inline constexpr int64_t kTracedSteps = 4;

// Every rank, once the run is planned, before its first step: with --trace, starts keeping what
// this rank does in the window; warns (rank 0) when the window holds none of this run's steps.
// UserError (on every rank alike) when --trace names one of the run's own files.
void startTrace(const TrainConfig& config, const RunPlan& plan, int64_t startStep,
                const std::string& outputDir, RunLog& log);

// Collective, at the run's end, with --trace: rank 0 writes the trace and says where, or warns
// that it could not (the run's other outputs matter more than its trace).
void finishTrace(const TrainConfig& config, comm::Communicator& control,
                 const std::string& outputDir, RunLog& log);

}  // namespace ringtrain::train

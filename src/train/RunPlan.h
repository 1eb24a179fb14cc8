// The length of a run, once its starting point is known: the rest of the starting epoch (which
// may have been begun at another world size or batch) and the whole epochs after it, or
// --max-steps. Pure: the step counts of an epoch come in already agreed among the ranks.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// The length of a run on a stream without --max-steps.
constexpr int64_t kUnknownSteps = std::numeric_limits<int64_t>::max();

struct EpochSteps {
  int64_t whole = 0;           // steps of a whole epoch at this run's world size and batch
  int64_t leftInStarting = 0;  // steps left in the epoch the run starts in
};

struct RunPlan {
  int64_t stepsPerEpoch = 0;   // 0 for a stream
  int64_t totalSteps = 0;      // the step the run ends after (kUnknownSteps: a stream's end)
  int64_t epochsToRun = 0;     // the epoch after the last one run
  int64_t scheduledSteps = 0;  // what the learning-rate schedule spans (0: no decay)
  // The starting point lies beyond the run's end (a checkpoint of a longer run): nothing to train.
  bool startsPastTheEnd = false;
  // It starts where the run ends: nothing to train.
  bool startsAtTheEnd = false;
};

// `startEpoch` and `startStep`: where the run begins (0, or a checkpoint's position), and
// `startFinished` whether that checkpoint ended its run (for a stream, the only way to know its
// last epoch is behind it). `epoch`:
// the agreed step counts, or nullopt for a stream, whose length is unknown (it runs --epochs
// streams, or --max-steps). UserError for a decaying --lr-schedule on a stream without
// --max-steps.
RunPlan planRun(const TrainConfig& config, int64_t startEpoch, int64_t startStep,
                const std::optional<EpochSteps>& epoch, bool startFinished = false);

}  // namespace ringtrain::train

// Where one epoch's micro-batches come from, step by step: a data set read in the sampler's
// order (IndexedEpoch) or a stream dealt out by one reader per host (StreamedEpoch). Either way
// every rank gets the same number of micro-batches for every step, so no rank waits in a
// collective for one that has run out of data.
#pragma once

#include <cstdint>
#include <optional>

#include "data/SampleSource.h"
#include "health/Progress.h"

namespace ringtrain::train {

class EpochInput {
 public:
  virtual ~EpochInput() = default;
  // Steps this epoch still has, when that is known in advance (not for a stream).
  virtual std::optional<int64_t> stepsLeft() const = 0;
  // Starts the next optimizer step: how many micro-batches it has (the same on every rank), or 0
  // when the epoch is over. Collective where the count must be agreed.
  virtual int64_t beginStep() = 0;
  // The step's next micro-batch, on the host (CPU).
  virtual data::Batch nextMicroBatch() = 0;
  // Where the epoch's global sample order stands after the steps begun so far (for
  // checkpoints): the whole data set once the last step has begun.
  virtual int64_t position() const = 0;
  // Seconds the training loop waited for micro-batches.
  virtual double waitSeconds() const = 0;
};

// Step `step` begins (health::beginStep: the rank waits for its data) with `input`'s next
// micro-batches: their count, or 0 at the epoch's end, where the step never begins after all.
inline int64_t beginTrainingStep(EpochInput& input, int64_t step) {
  health::beginStep(step);
  const int64_t microBatches = input.beginStep();
  if (microBatches == 0) health::abandonStep();
  return microBatches;
}

}  // namespace ringtrain::train

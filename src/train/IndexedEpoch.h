// An epoch of a data set read in the distributed sampler's order (DistributedSampler.h), its
// micro-batches assembled ahead by a BatchPrefetcher.
#pragma once

#include <memory>

#include "data/BatchPrefetcher.h"
#include "ringtrain/data/DistributedSampler.h"
#include "train/EpochInput.h"

namespace ringtrain::train {

struct IndexedEpochPlan {
  data::ShardSpec shard;  // whose samples, in which order, from where in the epoch
  int64_t batchSize = 1;  // per micro-batch
  int64_t gradAccum = 1;  // micro-batches per step
  // Micro-batches to take: what this rank's share makes (microBatchesFor), or fewer where ranks
  // with different shares agreed on the fewest.
  int64_t microBatches = 0;
};

// The micro-batches `samplesPerRank` samples make (with --drop-last, full ones only).
int64_t microBatchesFor(int64_t samplesPerRank, int64_t batchSize, bool dropLast);
// The optimizer steps `microBatches` micro-batches make.
int64_t stepsFor(int64_t microBatches, int64_t gradAccum);

class IndexedEpoch final : public EpochInput {
 public:
  IndexedEpoch(std::shared_ptr<const data::SampleSource> source, const IndexedEpochPlan& plan,
               const data::PrefetchOptions& prefetch);

  std::optional<int64_t> stepsLeft() const override {
    return stepsFor(plan_.microBatches, plan_.gradAccum);
  }
  int64_t beginStep() override;
  data::Batch nextMicroBatch() override { return batches_.next(); }
  int64_t position() const override;
  double waitSeconds() const override { return batches_.waitSeconds(); }

 private:
  IndexedEpochPlan plan_;
  data::BatchPrefetcher batches_;
  int64_t microBatchesBegun_ = 0;
};

}  // namespace ringtrain::train

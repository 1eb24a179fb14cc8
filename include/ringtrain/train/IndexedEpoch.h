// An epoch of a data set read in the distributed sampler's order (DistributedSampler.h), its
// micro-batches assembled ahead by a BatchPrefetcher.
#pragma once

#include <memory>
#include <vector>

#include "ringtrain/data/BatchPrefetcher.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/train/EpochInput.h"

namespace ringtrain::train {

struct IndexedEpochPlan {
  data::ShardSpec shard;  // whose samples, in which order, from where in the epoch
  int64_t batchSize = 1;  // per micro-batch
  int64_t gradAccum = 1;  // micro-batches per step
  // Steps to take: what this rank's share allows, or fewer where ranks agreed on fewer.
  int64_t steps = 0;
};

// Steps that `samplesPerRank` samples make on every rank.
int64_t stepsForSamples(int64_t samplesPerRank, int64_t batchSize, int64_t gradAccum,
                        bool dropLast);

class IndexedEpoch final : public EpochInput {
 public:
  IndexedEpoch(std::shared_ptr<const data::SampleSource> source, const IndexedEpochPlan& plan,
               const data::PrefetchOptions& prefetch);

  std::optional<int64_t> stepsLeft() const override { return plan_.steps; }
  int64_t beginStep() override;
  data::Batch nextMicroBatch() override { return batches_.next(); }
  int64_t position() const override;
  double waitSeconds() const override { return batches_.waitSeconds(); }

 private:
  IndexedEpoch(std::shared_ptr<const data::SampleSource> source, const IndexedEpochPlan& plan,
               const data::PrefetchOptions& prefetch, std::vector<int64_t> order);

  IndexedEpochPlan plan_;
  int64_t microBatches_;  // of this rank's share
  data::BatchPrefetcher batches_;
  int64_t stepsBegun_ = 0;
  int64_t microBatchesBegun_ = 0;
};

}  // namespace ringtrain::train

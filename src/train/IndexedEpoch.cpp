#include "train/IndexedEpoch.h"

#include <algorithm>

namespace ringtrain::train {

int64_t microBatchesFor(int64_t samplesPerRank, int64_t batchSize, bool dropLast) {
  return dropLast ? samplesPerRank / batchSize : (samplesPerRank + batchSize - 1) / batchSize;
}

int64_t stepsFor(int64_t microBatches, int64_t gradAccum) {
  return (microBatches + gradAccum - 1) / gradAccum;
}

IndexedEpoch::IndexedEpoch(std::shared_ptr<const data::SampleSource> source,
                           const IndexedEpochPlan& plan, const data::PrefetchOptions& prefetch)
    : plan_(plan),
      batches_(std::move(source), data::shardIndices(plan.shard), plan.batchSize, prefetch) {}

int64_t IndexedEpoch::beginStep() {
  const int64_t count = std::min(plan_.gradAccum, plan_.microBatches - microBatchesBegun_);
  microBatchesBegun_ += count;
  return count;
}

int64_t IndexedEpoch::position() const {
  // The end of the epoch, with whatever padding or --drop-last added or left out, is the whole
  // data set.
  if (microBatchesBegun_ == plan_.microBatches) return plan_.shard.datasetSize;
  return plan_.shard.firstSample + microBatchesBegun_ * plan_.batchSize * plan_.shard.worldSize;
}

}  // namespace ringtrain::train

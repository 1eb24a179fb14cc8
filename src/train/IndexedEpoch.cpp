#include "ringtrain/train/IndexedEpoch.h"

#include <algorithm>

namespace ringtrain::train {
namespace {

int64_t microBatchesFor(int64_t samples, int64_t batchSize, bool dropLast) {
  return dropLast ? samples / batchSize : (samples + batchSize - 1) / batchSize;
}

}  // namespace

int64_t stepsForSamples(int64_t samplesPerRank, int64_t batchSize, int64_t gradAccum,
                        bool dropLast) {
  return (microBatchesFor(samplesPerRank, batchSize, dropLast) + gradAccum - 1) / gradAccum;
}

IndexedEpoch::IndexedEpoch(std::shared_ptr<const data::SampleSource> source,
                           const IndexedEpochPlan& plan, const data::PrefetchOptions& prefetch)
    : IndexedEpoch(std::move(source), plan, prefetch, data::shardIndices(plan.shard)) {}

IndexedEpoch::IndexedEpoch(std::shared_ptr<const data::SampleSource> source,
                           const IndexedEpochPlan& plan, const data::PrefetchOptions& prefetch,
                           std::vector<int64_t> order)
    : plan_(plan),
      microBatches_(
          microBatchesFor(static_cast<int64_t>(order.size()), plan.batchSize, plan.shard.dropLast)),
      batches_(std::move(source), std::move(order), plan.batchSize, prefetch) {}

int64_t IndexedEpoch::beginStep() {
  if (stepsBegun_ == plan_.steps) return 0;
  const int64_t count = std::min(plan_.gradAccum, microBatches_ - microBatchesBegun_);
  ++stepsBegun_;
  microBatchesBegun_ += count;
  return count;
}

int64_t IndexedEpoch::position() const {
  // The end of the epoch, with whatever padding or --drop-last added or left out, is the whole
  // data set.
  if (stepsBegun_ == plan_.steps) return plan_.shard.datasetSize;
  return plan_.shard.firstSample + microBatchesBegun_ * plan_.batchSize * plan_.shard.worldSize;
}

}  // namespace ringtrain::train

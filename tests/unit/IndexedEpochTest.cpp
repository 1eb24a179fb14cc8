#include "train/IndexedEpoch.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace ringtrain::train {
namespace {

std::shared_ptr<const data::SampleSource> numbered(int64_t size) {
  data::Dataset dataset;
  dataset.features = at::arange(size, at::kFloat).view({size, 1});
  dataset.labels = at::zeros({size}, at::kLong);
  dataset.numClasses = 1;
  return data::inMemorySource(std::move(dataset));
}

IndexedEpochPlan planFor(int64_t size, int world, int rank, int64_t firstSample, int64_t batch,
                         int64_t accumulation, int64_t microBatches) {
  IndexedEpochPlan plan;
  plan.shard.datasetSize = size;
  plan.shard.worldSize = world;
  plan.shard.rank = rank;
  plan.shard.seed = 3;
  plan.shard.firstSample = firstSample;
  plan.batchSize = batch;
  plan.gradAccum = accumulation;
  plan.microBatches = microBatches;
  return plan;
}

TEST(IndexedEpoch, StepsTakeGradAccumMicroBatchesAndTheRestLast) {
  // 103 samples over 2 ranks: 52 each, 11 micro-batches of 5, steps of 4: 4, 4, 3.
  const int64_t microBatches = microBatchesFor(data::samplesPerRank(103, 2, false), 5, false);
  ASSERT_EQ(microBatches, 11);
  IndexedEpoch epoch(numbered(103), planFor(103, 2, 1, 0, 5, 4, microBatches), {});
  EXPECT_EQ(epoch.stepsLeft(), 3);
  const std::vector<int64_t> order = data::shardIndices(planFor(103, 2, 1, 0, 5, 4, 0).shard);
  std::vector<int64_t> counts;
  int64_t seen = 0;
  std::vector<int64_t> positions;
  while (const int64_t count = epoch.beginStep()) {
    counts.push_back(count);
    positions.push_back(epoch.position());
    for (int64_t m = 0; m < count; ++m) {
      const data::Batch batch = epoch.nextMicroBatch();
      for (int64_t i = 0; i < batch.features.size(0); ++i, ++seen)
        EXPECT_EQ(batch.features[i][0].item<float>(), order[seen]);
    }
  }
  EXPECT_EQ(counts, (std::vector<int64_t>{4, 4, 3}));
  EXPECT_EQ(seen, 52);
  // After a step: micro-batches begun x batch x ranks; after the last: the whole data set.
  EXPECT_EQ(positions, (std::vector<int64_t>{4 * 5 * 2, 8 * 5 * 2, 103}));
}

TEST(IndexedEpoch, RanksThatAgreedOnFewerMicroBatchesStopThere) {
  // This rank's share makes 11 micro-batches, but another host's makes only 6: steps of 4, 2.
  IndexedEpoch epoch(numbered(103), planFor(103, 2, 0, 0, 5, 4, 6), {});
  EXPECT_EQ(epoch.stepsLeft(), 2);
  EXPECT_EQ(epoch.beginStep(), 4);
  EXPECT_EQ(epoch.beginStep(), 2);
  EXPECT_EQ(epoch.beginStep(), 0);
}

TEST(IndexedEpoch, AResumedEpochCountsFromItsFirstSample) {
  const int64_t first = 40;
  const int64_t microBatches =
      microBatchesFor(data::samplesPerRank(103 - first, 2, false), 5, false);
  IndexedEpoch epoch(numbered(103), planFor(103, 2, 0, first, 5, 1, microBatches), {});
  epoch.beginStep();
  EXPECT_EQ(epoch.position(), first + 5 * 2);
}

}  // namespace
}  // namespace ringtrain::train

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>

#include "UserErrorOf.h"
#include "pipeline/Grid.h"
#include "pipeline/Partition.h"

namespace ringtrain::pipeline {
namespace {

using testing::userErrorOf;

int64_t heaviestStage(const std::vector<int64_t>& weights, const std::vector<int>& counts) {
  int64_t heaviest = 0;
  size_t layer = 0;
  for (const int count : counts) {
    int64_t sum = 0;
    for (int i = 0; i < count; ++i) sum += weights[layer++];
    heaviest = std::max(heaviest, sum);
  }
  return heaviest;
}

// Every contiguous split of `layers` into `stages` non-empty parts, by brute force.
int64_t bestHeaviestStage(const std::vector<int64_t>& weights, int stages) {
  const int layers = static_cast<int>(weights.size());
  int64_t best = INT64_MAX;
  std::vector<int> cuts(stages - 1);
  std::function<void(int, int)> place = [&](int index, int from) {
    if (index == stages - 1) {
      std::vector<int> counts;
      int previous = 0;
      for (const int cut : cuts) {
        counts.push_back(cut - previous);
        previous = cut;
      }
      counts.push_back(layers - previous);
      best = std::min(best, heaviestStage(weights, counts));
      return;
    }
    for (int cut = from; cut <= layers - (stages - 1 - index); ++cut) {
      cuts[index] = cut;
      place(index + 1, cut + 1);
    }
  };
  place(0, 1);
  return best;
}

TEST(PipelinePartition, ParameterBalanceIsOptimalAndCoversEveryLayer) {
  const std::vector<std::vector<int64_t>> models = {{100, 1, 1, 1, 1, 100},
                                                    {5, 5, 5, 5, 5, 5, 5},
                                                    {1, 2, 3, 4, 5, 6, 7, 8, 9},
                                                    {1000, 10, 10, 10, 10, 10, 10, 10, 10, 1000},
                                                    {7}};
  for (const auto& weights : models) {
    for (int stages = 1; stages <= static_cast<int>(weights.size()) && stages <= 5; ++stages) {
      const std::vector<int> counts = partitionLayers({}, weights, stages);
      ASSERT_EQ(static_cast<int>(counts.size()), stages);
      EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0), static_cast<int>(weights.size()));
      EXPECT_TRUE(std::all_of(counts.begin(), counts.end(), [](int c) { return c >= 1; }));
      EXPECT_EQ(heaviestStage(weights, counts), bestHeaviestStage(weights, stages))
          << weights.size() << " layers over " << stages << " stages";
    }
  }
}

TEST(PipelinePartition, UniformDealsTheRemainderToTheFirstStages) {
  const PartitionSpec uniform = parsePartition("partition", "uniform");
  EXPECT_EQ(partitionLayers(uniform, std::vector<int64_t>(14, 1), 4),
            (std::vector<int>{4, 4, 3, 3}));
  EXPECT_EQ(partitionLayers(uniform, std::vector<int64_t>(3, 9), 3), (std::vector<int>{1, 1, 1}));
}

TEST(PipelinePartition, ExplicitCountsMustFitTheModel) {
  const std::vector<int64_t> weights(14, 1);
  EXPECT_EQ(partitionLayers(parsePartition("partition", "explicit:4,4,6"), weights, 3),
            (std::vector<int>{4, 4, 6}));
  EXPECT_NE(userErrorOf([&] {
              partitionLayers(parsePartition("partition", "explicit:4,4,5"), weights, 3);
            }).find("covers 13 layers, but the model has 14"),
            std::string::npos);
  EXPECT_NE(userErrorOf([&] {
              partitionLayers(parsePartition("partition", "explicit:7,7"), weights, 3);
            }).find("lists 2 stages, but --pipeline-stages is 3"),
            std::string::npos);
  EXPECT_NE(
      userErrorOf([] { parsePartition("partition", "explicit:4,0"); }).find("at least one layer"),
      std::string::npos);
  EXPECT_NE(userErrorOf([] { parsePartition("partition", "explicit:4,x"); }).find("'x'"),
            std::string::npos);
  EXPECT_NE(userErrorOf([] {
              parsePartition("partition", "greedy");
            }).find("--partition must be params, uniform or explicit"),
            std::string::npos);
  EXPECT_NE(userErrorOf([&] {
              partitionLayers({}, std::vector<int64_t>(2, 1), 3);
            }).find("2 layers, fewer than the 3 pipeline stages"),
            std::string::npos);
}

TEST(PipelineGrid, StageMajorLayout) {
  const PipelineGrid grid = PipelineGrid::forWorld(6, 3);
  EXPECT_EQ(grid.replicas, 2);
  for (int rank = 0; rank < 6; ++rank) {
    EXPECT_EQ(grid.stageOf(rank), rank / 2);
    EXPECT_EQ(grid.replicaOf(rank), rank % 2);
    EXPECT_EQ(grid.rankOf(grid.stageOf(rank), grid.replicaOf(rank)), rank);
  }
  EXPECT_NE(userErrorOf([] { PipelineGrid::forWorld(5, 2); }).find("does not divide the 5 ranks"),
            std::string::npos);
}

}  // namespace
}  // namespace ringtrain::pipeline

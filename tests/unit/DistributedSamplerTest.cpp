#include "ringtrain/data/DistributedSampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

std::vector<std::vector<int64_t>> allShards(ShardSpec spec) {
  std::vector<std::vector<int64_t>> shards;
  for (spec.rank = 0; spec.rank < spec.worldSize; ++spec.rank) shards.push_back(shardIndices(spec));
  return shards;
}

// PyTorch 2.x: torch.randperm(10, generator=torch.Generator().manual_seed(45)).
TEST(DistributedSampler, MatchesTorchRandpermForOneRank) {
  const ShardSpec spec{10, 1, 0, 45, 0, true, false};
  EXPECT_EQ(shardIndices(spec), (std::vector<int64_t>{7, 6, 5, 3, 4, 9, 0, 8, 2, 1}));
}

TEST(DistributedSampler, SeedPlusEpochSelectsThePermutation) {
  EXPECT_EQ(shardIndices({10, 1, 0, 40, 5, true, false}),
            shardIndices({10, 1, 0, 45, 0, true, false}));
  EXPECT_NE(shardIndices({10, 1, 0, 45, 1, true, false}),
            shardIndices({10, 1, 0, 45, 0, true, false}));
}

TEST(DistributedSampler, ShardsStrideThroughTheOrderAndPadFromTheStart) {
  for (const int64_t size : {1, 2, 5, 7, 10, 17, 100}) {
    for (int world = 1; world <= 5; ++world) {
      ShardSpec spec{size, world, 0, 3, 2, true, false};
      spec.rank = 0;
      std::vector<int64_t> order = shardIndices({size, 1, 0, 3, 2, true, false});
      const auto shards = allShards(spec);
      const int64_t perRank = (size + world - 1) / world;
      for (int rank = 0; rank < world; ++rank) {
        ASSERT_EQ(static_cast<int64_t>(shards[rank].size()), perRank);
        for (int64_t i = 0; i < perRank; ++i) {
          EXPECT_EQ(shards[rank][i], order[(rank + i * world) % size])
              << "size " << size << " world " << world << " rank " << rank << " i " << i;
        }
      }
    }
  }
}

TEST(DistributedSampler, WithoutDropLastEverySampleAppearsAndPaddingIsMinimal) {
  for (const int64_t size : {1, 3, 8, 13, 64}) {
    for (int world = 1; world <= 5; ++world) {
      for (const bool shuffle : {true, false}) {
        std::map<int64_t, int> seen;
        for (const auto& shard : allShards({size, world, 0, 0, 0, shuffle, false})) {
          for (const int64_t index : shard) ++seen[index];
        }
        ASSERT_EQ(static_cast<int64_t>(seen.size()), size);
        int total = 0;
        for (const auto& [index, count] : seen) total += count;
        EXPECT_EQ(total, ((size + world - 1) / world) * world);
      }
    }
  }
}

TEST(DistributedSampler, DropLastGivesDisjointEqualShards) {
  for (const int64_t size : {0, 1, 3, 8, 13, 64}) {
    for (int world = 1; world <= 5; ++world) {
      std::map<int64_t, int> seen;
      for (const auto& shard : allShards({size, world, 0, 9, 1, true, true})) {
        EXPECT_EQ(static_cast<int64_t>(shard.size()), size / world);
        for (const int64_t index : shard) EXPECT_EQ(++seen[index], 1);
      }
    }
  }
}

TEST(DistributedSampler, NoShuffleKeepsOrder) {
  EXPECT_EQ(shardIndices({7, 3, 1, 0, 4, false, false}), (std::vector<int64_t>{1, 4, 0}));
  EXPECT_EQ(shardIndices({7, 3, 2, 0, 4, false, true}), (std::vector<int64_t>{2, 5}));
}

TEST(DistributedSampler, ResumingAtTheSameWorldSizeContinuesEachRanksShard) {
  for (const bool dropLast : {false, true}) {
    for (const int64_t size : {7, 12, 13}) {
      for (int world = 1; world <= 4; ++world) {
        const ShardSpec whole{size, world, 0, 5, 3, true, dropLast};
        const auto shards = allShards(whole);
        const auto perRank = static_cast<int64_t>(shards[0].size());
        for (int64_t done = 0; done <= perRank && done * world <= size; ++done) {
          ShardSpec resumed = whole;
          resumed.firstSample = done * world;
          const auto rest = allShards(resumed);
          for (int rank = 0; rank < world; ++rank) {
            EXPECT_EQ(rest[rank],
                      std::vector<int64_t>(shards[rank].begin() + done, shards[rank].end()))
                << "size " << size << " world " << world << " done " << done;
          }
        }
      }
    }
  }
}

// The positions read before the interruption plus those dealt after it cover the epoch's order
// exactly as one uninterrupted pass does, at any pair of world sizes.
TEST(DistributedSampler, ResumingAtAnotherWorldSizeReadsTheRestOfTheEpochsOrder) {
  for (const int64_t size : {9, 24, 31}) {
    const std::vector<int64_t> order = shardIndices({size, 1, 0, 8, 2, true, false});
    for (int before = 1; before <= 4; ++before) {
      for (int after = 1; after <= 5; ++after) {
        for (int64_t done = 0; done <= size; done += before) {
          ShardSpec resumed{size, after, 0, 8, 2, true, false};
          resumed.firstSample = done;
          const auto shards = allShards(resumed);
          const int64_t perRank = (size - done + after - 1) / after;
          for (int rank = 0; rank < after; ++rank) {
            ASSERT_EQ(static_cast<int64_t>(shards[rank].size()), perRank);
            for (int64_t i = 0; i < perRank; ++i) {
              EXPECT_EQ(shards[rank][i], order[(done + rank + i * after) % size])
                  << "size " << size << " done " << done << " after " << after;
            }
          }
          std::map<int64_t, int> seen;
          for (int64_t position = 0; position < done; ++position) ++seen[order[position]];
          for (const auto& shard : shards) {
            for (const int64_t index : shard) ++seen[index];
          }
          EXPECT_EQ(static_cast<int64_t>(seen.size()), size);
        }
      }
    }
  }
}

TEST(DistributedSampler, ResumingWithDropLastCutsWhatIsLeft) {
  ShardSpec resumed{13, 3, 0, 0, 0, false, true};
  resumed.firstSample = 4;  // 9 left: 3 each
  EXPECT_EQ(allShards(resumed),
            (std::vector<std::vector<int64_t>>{{4, 7, 10}, {5, 8, 11}, {6, 9, 12}}));
  resumed.firstSample = 13;
  EXPECT_EQ(allShards(resumed), (std::vector<std::vector<int64_t>>{{}, {}, {}}));
}

TEST(DistributedSampler, EvaluationCountsEverySampleOnce) {
  for (const int64_t size : {0, 1, 5, 10, 11}) {
    for (int world = 1; world <= 4; ++world) {
      std::vector<int64_t> all;
      for (int rank = 0; rank < world; ++rank) {
        const auto shard = evaluationIndices(size, world, rank);
        all.insert(all.end(), shard.begin(), shard.end());
      }
      std::sort(all.begin(), all.end());
      std::vector<int64_t> expected(static_cast<size_t>(size));
      for (int64_t i = 0; i < size; ++i) expected[static_cast<size_t>(i)] = i;
      EXPECT_EQ(all, expected);
    }
  }
}

TEST(DistributedSampler, RejectsInvalidSpecs) {
  EXPECT_THROW(shardIndices({10, 0, 0, 0, 0, true, false}), UserError);
  EXPECT_THROW(shardIndices({10, 2, 2, 0, 0, true, false}), UserError);
  EXPECT_THROW(shardIndices({10, 2, -1, 0, 0, true, false}), UserError);
  EXPECT_THROW(shardIndices({10, 2, 0, 0, -1, true, false}), UserError);
  EXPECT_THROW(shardIndices({10, 2, 0, 0, 0, true, false, 11}), UserError);
  EXPECT_THROW(shardIndices({10, 2, 0, 0, 0, true, false, -1}), UserError);
}

}  // namespace
}  // namespace ringtrain::data

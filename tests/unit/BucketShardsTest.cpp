// Sharded buckets (ddp/BucketShards.h): across the ranks, every element of every parameter is owned
// by exactly one rank; each rank's pieces lie inside its slice, which is the ring's segment of the
// bucket; and no parameter size has to divide by the number of ranks.
#include "ddp/BucketShards.h"

#include <gtest/gtest.h>

#include <map>

#include "ddp/BucketPlan.h"

namespace ringtrain::ddp {
namespace {

std::vector<BucketSpec> bucketsOf(const std::vector<int64_t>& numels, int64_t bucketBytes) {
  std::vector<ParameterShape> shapes;
  for (int64_t n : numels) shapes.push_back({n, 4, 0});
  return assignBuckets(shapes, {bucketBytes, bucketBytes});
}

TEST(BucketShards, EveryElementOfEveryParameterHasExactlyOneOwner) {
  // Sizes prime to the rank counts, a parameter larger than a bucket, and one smaller than a shard.
  const std::vector<int64_t> numels{7, 1009, 3, 40961, 17, 257};
  for (const int64_t bucketBytes : {int64_t{64}, int64_t{4096}, int64_t{1} << 20}) {
    const std::vector<BucketSpec> buckets = bucketsOf(numels, bucketBytes);
    for (int ranks = 1; ranks <= 5; ++ranks) {
      std::map<size_t, std::vector<int>> owners;  // parameter -> owner count per element
      for (size_t p = 0; p < numels.size(); ++p)
        owners[p].assign(static_cast<size_t>(numels[p]), 0);
      int64_t total = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const std::vector<BucketShard> shards = shardBuckets(buckets, ranks, rank);
        ASSERT_EQ(shards.size(), buckets.size());
        for (size_t b = 0; b < shards.size(); ++b) {
          const comm::Span expected =
              comm::shardSpans(buckets[b].numel, ranks)[static_cast<size_t>(rank)];
          EXPECT_EQ(shards[b].span.begin, expected.begin);
          EXPECT_EQ(shards[b].span.end, expected.end);
          // In bucket order, inside the slice; the gaps between are the entries' alignment.
          int64_t next = shards[b].span.begin;
          for (const ShardPiece& piece : shards[b].pieces) {
            EXPECT_GE(piece.bucketOffset, next) << "pieces in bucket order, apart";
            EXPECT_LT(piece.bucketOffset - next, kEntryAlignBytes / 4);
            next = piece.bucketOffset + piece.numel;
            for (int64_t i = 0; i < piece.numel; ++i) {
              ++owners[piece.parameter].at(static_cast<size_t>(piece.parameterOffset + i));
            }
          }
          EXPECT_LE(next, shards[b].span.end);
        }
        for (const BucketShard& shard : shards) total += shard.span.length();
      }
      int64_t bucketElements = 0;
      for (const BucketSpec& bucket : buckets) bucketElements += bucket.numel;
      for (const auto& [parameter, counts] : owners) {
        for (size_t i = 0; i < counts.size(); ++i) {
          ASSERT_EQ(counts[i], 1) << "parameter " << parameter << " element " << i << ", " << ranks
                                  << " ranks, buckets of " << bucketBytes << " bytes";
        }
      }
      EXPECT_EQ(total, bucketElements) << "the slices tile the buckets";
    }
  }
}

TEST(BucketShards, APieceMayStartAndEndInsideAParameter) {
  // One bucket over 2 ranks: parameter 1 (40 elements, registered last, so first) at [0, 40),
  // parameter 0 (10) from the next 16-element boundary, [48, 58). Shards of 32 (29 aligned to 16)
  // and 26 elements.
  const std::vector<BucketSpec> buckets = bucketsOf({10, 40}, 1 << 20);
  ASSERT_EQ(buckets.size(), 1u);
  ASSERT_EQ(buckets[0].numel, 58);
  const std::vector<BucketShard> first = shardBuckets(buckets, 2, 0);
  const std::vector<BucketShard> second = shardBuckets(buckets, 2, 1);
  ASSERT_EQ(first[0].pieces.size(), 1u);
  EXPECT_EQ(first[0].pieces[0].parameter, 1u);
  EXPECT_EQ(first[0].pieces[0].parameterOffset, 0);
  EXPECT_EQ(first[0].pieces[0].numel, 32);
  ASSERT_EQ(second[0].pieces.size(), 2u);
  EXPECT_EQ(second[0].pieces[0].parameter, 1u);
  EXPECT_EQ(second[0].pieces[0].parameterOffset, 32);
  EXPECT_EQ(second[0].pieces[0].bucketOffset, 32);
  EXPECT_EQ(second[0].pieces[0].numel, 8);
  EXPECT_EQ(second[0].pieces[1].parameter, 0u);
  EXPECT_EQ(second[0].pieces[1].parameterOffset, 0);
  EXPECT_EQ(second[0].pieces[1].bucketOffset, 48);
  EXPECT_EQ(second[0].pieces[1].numel, 10);
  EXPECT_THROW(shardBuckets(buckets, 2, 2), std::exception);
}

}  // namespace
}  // namespace ringtrain::ddp

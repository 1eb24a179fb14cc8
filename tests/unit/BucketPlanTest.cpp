#include "ddp/BucketPlan.h"

#include <gtest/gtest.h>

#include <numeric>

namespace ringtrain::ddp {
namespace {

std::vector<ParameterShape> floats(const std::vector<int64_t>& numels) {
  std::vector<ParameterShape> shapes;
  for (int64_t n : numels) shapes.push_back({n, 4, 0});
  return shapes;
}

// Every parameter exactly once, entries back to back from 64-byte boundaries, reverse registration
// order within a type, and each bucket ending with its last entry.
void expectWellFormed(const std::vector<BucketSpec>& buckets,
                      const std::vector<ParameterShape>& parameters) {
  std::vector<int> seen(parameters.size(), 0);
  for (const BucketSpec& bucket : buckets) {
    int64_t offset = 0;
    size_t previous = parameters.size();
    for (const BucketEntry& entry : bucket.entries) {
      ASSERT_LT(entry.parameter, parameters.size());
      ++seen[entry.parameter];
      const int64_t align = kEntryAlignBytes / parameters[entry.parameter].elementBytes;
      EXPECT_EQ(entry.offset, (offset + align - 1) / align * align);
      EXPECT_EQ(entry.numel, parameters[entry.parameter].numel);
      EXPECT_EQ(parameters[entry.parameter].typeKey, bucket.typeKey);
      EXPECT_LT(entry.parameter, previous) << "entries must run in reverse registration order";
      previous = entry.parameter;
      offset = entry.offset + entry.numel;
    }
    EXPECT_EQ(bucket.numel, offset);
  }
  for (size_t i = 0; i < parameters.size(); ++i) EXPECT_EQ(seen[i], 1) << "parameter " << i;
}

TEST(BucketPlan, OneBucketWhenEverythingFitsUnderTheFirstLimit) {
  const auto parameters = floats({10, 20, 30});
  const auto buckets = assignBuckets(parameters, {});
  ASSERT_EQ(buckets.size(), 1u);
  expectWellFormed(buckets, parameters);
  EXPECT_EQ(buckets[0].entries.front().parameter, 2u);
  // 30 floats, then 20 from element 32, then 10 from element 64.
  EXPECT_EQ(buckets[0].bytes(), 74 * 4);
}

TEST(BucketPlan, FirstBucketSmallThenFullSizeBuckets) {
  // 40 parameters of 100 KiB each: the first bucket closes once it reaches 1 MiB (11 parameters);
  // the other 29 (2900 KiB) stay under the 3 MiB limit and make one more bucket.
  const int64_t numel = 100 * 1024 / 4;
  const auto parameters = floats(std::vector<int64_t>(40, numel));
  const BucketLimits limits{3 * 1024 * 1024, 1024 * 1024};
  const auto buckets = assignBuckets(parameters, limits);
  expectWellFormed(buckets, parameters);
  const int64_t parameterBytes = numel * 4;
  const auto perBucket = [&](int64_t limit) {
    return (limit + parameterBytes - 1) / parameterBytes;
  };
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(static_cast<int64_t>(buckets[0].entries.size()), perBucket(limits.firstBucketBytes));
  EXPECT_EQ(static_cast<int64_t>(buckets[1].entries.size()),
            40 - perBucket(limits.firstBucketBytes));
  EXPECT_EQ(buckets[0].entries.front().parameter, 39u);
}

TEST(BucketPlan, BucketsCloseAtTheirLimitOrBeforeAParameterThatGetsItsOwn) {
  for (const int64_t limit : {int64_t{1}, int64_t{64}, int64_t{1000}, int64_t{1} << 20}) {
    const auto parameters = floats({7, 1, 300, 5, 5, 5, 1024, 3, 9, 2});
    const auto buckets = assignBuckets(parameters, {limit, limit});
    expectWellFormed(buckets, parameters);
    const auto large = [&](const BucketEntry& entry) { return 2 * entry.numel * 4 > limit; };
    for (size_t b = 0; b < buckets.size(); ++b) {
      const BucketSpec& bucket = buckets[b];
      for (const BucketEntry& entry : bucket.entries) {
        if (large(entry)) {
          EXPECT_EQ(bucket.entries.size(), 1u) << "bucket " << b;
        }
      }
      if (b + 1 == buckets.size() || bucket.entries.size() == 1) continue;
      // Without its last entry the bucket was still under the limit; it reached the limit unless
      // the next parameter takes a bucket of its own.
      const BucketEntry& before = bucket.entries[bucket.entries.size() - 2];
      EXPECT_LT((before.offset + before.numel) * 4, limit);
      const BucketSpec& next = buckets[b + 1];
      if (!(next.entries.size() == 1 && large(next.entries[0]))) {
        EXPECT_GE(bucket.bytes(), limit);
      }
    }
  }
}

TEST(BucketPlan, ParameterOverHalfTheLimitGetsABucketOfItsOwn) {
  // Reverse order: 40 bytes, then 600 (over half of 1024) alone, then 400 and 200 together.
  const auto parameters = floats({50, 100, 150, 10});
  const auto buckets = assignBuckets(parameters, {1024, 1024});
  expectWellFormed(buckets, parameters);
  ASSERT_EQ(buckets.size(), 3u);
  EXPECT_EQ(buckets[0].entries.size(), 1u);
  EXPECT_EQ(buckets[0].entries[0].parameter, 3u);
  EXPECT_EQ(buckets[1].entries.size(), 1u);
  EXPECT_EQ(buckets[1].entries[0].parameter, 2u);
  EXPECT_EQ(buckets[2].entries.size(), 2u);
}

TEST(BucketPlan, FirstLimitIsCappedByTheBucketLimit) {
  const auto parameters = floats(std::vector<int64_t>(8, 64));  // 256 bytes each
  const auto buckets = assignBuckets(parameters, {512, 1 << 20});
  expectWellFormed(buckets, parameters);
  EXPECT_EQ(buckets.size(), 4u);
}

TEST(BucketPlan, ElementTypesNeverShareABucket) {
  const std::vector<ParameterShape> parameters{{10, 4, 0}, {10, 2, 1}, {10, 4, 0}, {10, 2, 1}};
  const auto buckets = assignBuckets(parameters, {});
  expectWellFormed(buckets, parameters);
  ASSERT_EQ(buckets.size(), 2u);
  for (const BucketSpec& bucket : buckets) EXPECT_EQ(bucket.entries.size(), 2u);
}

TEST(BucketPlan, EmptyModelHasNoBuckets) {
  EXPECT_TRUE(assignBuckets({}, {}).empty());
}

}  // namespace
}  // namespace ringtrain::ddp

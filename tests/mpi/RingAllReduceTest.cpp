// ringtrain's ring against the backend's own allreduce, at odd sizes (empty segments, segments of
// unequal length, one piece and many pieces). Inputs are integers, so sums are exact and the two
// algorithms must agree bit for bit whatever order they add in.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "comm/AllReduce.h"

namespace ringtrain::comm {
namespace {

Communicator& world() {
  return testing::worldCommunicator();
}

// Element i of rank r: ((i * 7 + r * 13) mod 17) - 8, small integers of both signs.
at::Tensor rankPattern(int64_t n, at::ScalarType type) {
  const at::Tensor i = at::arange(n, at::kLong);
  return (i.mul(7).add(world().rank() * 13).remainder(17).sub(8)).to(type);
}

TEST(RingAllReduce, EqualsNativeAtOddSizesForEveryOperation) {
  const std::vector<int64_t> pieceBytes{4, 12, 256 * 1024};
  for (const int64_t n : {1, 2, 3, 7, 1023, 65537}) {
    for (const auto type :
         {at::kFloat, at::kDouble, at::kLong, at::kInt, at::kHalf, at::kBFloat16}) {
      for (const auto op : {ReduceOp::kSum, ReduceOp::kMin, ReduceOp::kMax, ReduceOp::kAvg}) {
        if (op == ReduceOp::kAvg && !at::isFloatingType(type)) continue;
        // Many tiny pieces on large tensors would only make the test slow.
        for (const int64_t piece : pieceBytes) {
          if (piece < 1024 && n > 1023) continue;
          at::Tensor native = rankPattern(n, type);
          at::Tensor ring = native.clone();
          world().allReduce(native, op);
          ringAllReduce(world(), ring, op, RingOptions{piece});
          EXPECT_TRUE(ring.equal(native)) << "n=" << n << " type=" << type
                                          << " op=" << static_cast<int>(op) << " piece=" << piece;
        }
      }
    }
  }
}

TEST(RingAllReduce, SumMatchesTheFormula) {
  const int size = world().size();
  for (const int64_t n : {5, 4099}) {
    at::Tensor values = at::arange(1, n + 1, at::kFloat).mul(world().rank() + 1);
    ringAllReduce(world(), values, ReduceOp::kSum, RingOptions{64});
    const at::Tensor expected = at::arange(1, n + 1, at::kFloat).mul(size * (size + 1) / 2);
    EXPECT_TRUE(values.equal(expected)) << "n=" << n;
  }
}

TEST(RingAllReduce, KeepsShapeOfMultiDimensionalTensors) {
  at::Tensor values = at::ones({3, 5, 7}, at::kDouble);
  ringAllReduce(world(), values, ReduceOp::kAvg);
  EXPECT_EQ(values.sizes().vec(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_TRUE(values.equal(at::ones({3, 5, 7}, at::kDouble)));
}

TEST(RingAllReduce, FloatingPointSumsAgreeWithNativeToRounding) {
  at::manual_seed(1234 + static_cast<uint64_t>(world().rank()));
  at::Tensor native = at::randn({100003});
  at::Tensor ring = native.clone();
  world().allReduce(native, ReduceOp::kAvg);
  allReduceWith(AllReduceAlgorithm::kRing, world(), ring, ReduceOp::kAvg);
  EXPECT_TRUE(at::allclose(ring, native, 1e-5, 1e-6));
}

TEST(RingAllReduce, AutoTakesTheRingFromItsThresholdOnHostReducingBackends) {
  RingOptions options;
  options.autoRingFromBytes = 400;
  ASSERT_TRUE(world().reducesOnHost());
  EXPECT_EQ(resolveAlgorithm(AllReduceAlgorithm::kAuto, world(), 399, options),
            AllReduceAlgorithm::kNative);
  EXPECT_EQ(resolveAlgorithm(AllReduceAlgorithm::kAuto, world(), 400, options),
            AllReduceAlgorithm::kRing);
  EXPECT_EQ(resolveAlgorithm(AllReduceAlgorithm::kNative, world(), 1 << 30, options),
            AllReduceAlgorithm::kNative);
  for (const int64_t n : {int64_t{99}, int64_t{101}, int64_t{1001}}) {  // both sides of 400 bytes
    at::Tensor automatic = rankPattern(n, at::kFloat);
    at::Tensor native = automatic.clone();
    allReduceWith(AllReduceAlgorithm::kAuto, world(), automatic, ReduceOp::kSum, options);
    world().allReduce(native, ReduceOp::kSum);
    EXPECT_TRUE(automatic.equal(native)) << "n=" << n;
  }
}

// The halves on their own make the same transfers and additions as the whole: floating-point
// sums in the ring's order, equal bit for bit (what sharded data parallelism relies on).
TEST(RingAllReduce, ReduceScatterThenAllGatherIsTheAllReduceBitForBit) {
  const int rank = world().rank();
  for (const int64_t n : {1, 17, 20, 1001, 65537}) {
    for (const auto op : {ReduceOp::kSum, ReduceOp::kAvg}) {
      for (const int64_t piece : {int64_t{12}, int64_t{1} << 20}) {
        if (piece < 1024 && n > 1023) continue;
        at::manual_seed(7 + static_cast<uint64_t>(rank) * 1000 + static_cast<uint64_t>(n));
        const at::Tensor input = at::randn({n});
        at::Tensor whole = input.clone();
        ringAllReduce(world(), whole, op, RingOptions{piece});
        at::Tensor halves = input.clone();
        ringReduceScatter(world(), halves, op, RingOptions{piece});
        const Span owned = shardSpans(n, world().size())[static_cast<size_t>(rank)];
        EXPECT_TRUE(
            halves.slice(0, owned.begin, owned.end).equal(whole.slice(0, owned.begin, owned.end)))
            << "this rank's shard after the reduce-scatter, n=" << n;
        ringAllGather(world(), halves, RingOptions{piece});
        EXPECT_TRUE(halves.equal(whole)) << "n=" << n << " op=" << static_cast<int>(op);
      }
    }
  }
}

TEST(RingAllReduce, AllGatherSpreadsEachOwnersShard) {
  const int size = world().size();
  const int64_t n = 1003;
  // Each rank fills only its own shard (with its rank + 1) and garbage elsewhere.
  at::Tensor values = at::full({n}, -1.0);
  const std::vector<Span> shards = shardSpans(n, size);
  const Span own = shards[static_cast<size_t>(world().rank())];
  values.slice(0, own.begin, own.end).fill_(world().rank() + 1);
  ringAllGather(world(), values);
  for (int r = 0; r < size; ++r) {
    const at::Tensor shard =
        values.slice(0, shards[static_cast<size_t>(r)].begin, shards[static_cast<size_t>(r)].end);
    EXPECT_TRUE(shard.eq(r + 1).all().item<bool>()) << "shard " << r;
  }
}

TEST(RingAllReduce, EmptyTensorIsANoOp) {
  at::Tensor empty = at::empty({0});
  ringAllReduce(world(), empty, ReduceOp::kSum);
  EXPECT_EQ(empty.numel(), 0);
}

}  // namespace
}  // namespace ringtrain::comm

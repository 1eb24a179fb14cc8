// Reduce-scatter and all-gather over the shards (comm/ShardedCollectives.h), by the ring and by the
// backend's own collectives: each rank's shard holds what the allreduce gives there, and the
// all-gather restores the whole; at sizes that divide by no rank count and with empty shards.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "comm/ShardedCollectives.h"

namespace ringtrain::comm {
namespace {

Communicator& world() {
  return testing::worldCommunicator();
}

TEST(ShardedCollectives, EachRanksShardIsTheAllReducesAndTheAllGatherRestoresTheWhole) {
  const int rank = world().rank();
  for (const auto algorithm : {AllReduceAlgorithm::kRing, AllReduceAlgorithm::kNative}) {
    for (const int64_t n : {1, 20, 1003, 40961}) {
      for (const auto op : {ReduceOp::kSum, ReduceOp::kAvg}) {
        // Small integers: sums are exact, so every algorithm must agree bit for bit.
        const at::Tensor input =
            at::arange(n, at::kFloat).mul(3).add(rank * 7).remainder(11).sub(5);
        at::Tensor reduced = input.clone();
        world().allReduce(reduced, op);
        at::Tensor sharded = input.clone();
        reduceScatterShards(algorithm, world(), sharded, op);
        const Span own = shardSpans(n, world().size())[static_cast<size_t>(rank)];
        EXPECT_TRUE(
            sharded.slice(0, own.begin, own.end).equal(reduced.slice(0, own.begin, own.end)))
            << algorithmName(algorithm) << " n=" << n;
        allGatherShards(algorithm, world(), sharded);
        EXPECT_TRUE(sharded.equal(reduced)) << algorithmName(algorithm) << " n=" << n;
      }
    }
  }
}

TEST(ShardedCollectives, EveryElementTypeByEitherAlgorithm) {
  const int rank = world().rank();
  for (const auto type : {at::kHalf, at::kBFloat16, at::kDouble, at::kInt, at::kLong}) {
    for (const auto algorithm : {AllReduceAlgorithm::kRing, AllReduceAlgorithm::kNative}) {
      for (const int64_t n : {5, 64, 16 * 7 + 3}) {  // 64: equal shards at 1, 2 and 4 ranks
        const at::Tensor input = at::arange(n, at::kLong).add(rank).remainder(5).sub(2).to(type);
        at::Tensor reduced = input.clone();
        world().allReduce(reduced, ReduceOp::kSum);
        at::Tensor sharded = input.clone();
        reduceScatterShards(algorithm, world(), sharded, ReduceOp::kSum);
        allGatherShards(algorithm, world(), sharded);
        EXPECT_TRUE(sharded.equal(reduced))
            << type << " " << algorithmName(algorithm) << " n=" << n;
      }
    }
  }
}

TEST(ShardedCollectives, TheRingsHalvesAreItsAllReduceOnFloatingPointData) {
  at::manual_seed(99 + static_cast<uint64_t>(world().rank()));
  const at::Tensor input = at::randn({30011});
  at::Tensor whole = input.clone();
  ringAllReduce(world(), whole, ReduceOp::kAvg);
  at::Tensor halves = input.clone();
  reduceScatterShards(AllReduceAlgorithm::kRing, world(), halves, ReduceOp::kAvg);
  allGatherShards(AllReduceAlgorithm::kRing, world(), halves);
  EXPECT_TRUE(halves.equal(whole));
}

}  // namespace
}  // namespace ringtrain::comm

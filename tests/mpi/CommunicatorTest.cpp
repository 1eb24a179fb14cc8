// Every expectation is a formula of rank and size, so the same test holds at any world size.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "MpiTestEnvironment.h"
#include "util/Files.h"

namespace ringtrain::comm {
namespace {

Communicator& world() {
  return testing::worldCommunicator();
}

// Element i of rank r holds (r + 1) * (i + 1).
at::Tensor rankRamp(int64_t n, at::ScalarType type) {
  return at::arange(1, n + 1, at::kDouble).mul(world().rank() + 1).to(type);
}

TEST(Communicator, AllReduceSumAndAverageAtOddSizes) {
  const int size = world().size();
  for (const int64_t n : {1, 7, 1023}) {
    for (const auto type : {at::kFloat, at::kDouble, at::kLong, at::kInt}) {
      at::Tensor values = rankRamp(n, type);
      world().allReduce(values, ReduceOp::kSum);
      const at::Tensor expected = at::arange(1, n + 1, at::kDouble).mul(size * (size + 1) / 2.0);
      EXPECT_TRUE(values.to(at::kDouble).equal(expected)) << "n=" << n << " type=" << type;
    }
    at::Tensor averaged = rankRamp(n, at::kDouble);
    world().allReduce(averaged, ReduceOp::kAvg);
    EXPECT_TRUE(at::allclose(averaged, at::arange(1, n + 1, at::kDouble).mul((size + 1) / 2.0)));
  }
}

TEST(Communicator, AllReduceMinAndMax) {
  at::Tensor low = at::full({5}, world().rank(), at::kLong);
  at::Tensor high = low.clone();
  world().allReduce(low, ReduceOp::kMin);
  world().allReduce(high, ReduceOp::kMax);
  EXPECT_TRUE(low.equal(at::zeros({5}, at::kLong)));
  EXPECT_TRUE(high.equal(at::full({5}, world().size() - 1, at::kLong)));
}

TEST(Communicator, BroadcastFromEveryRoot) {
  for (int root = 0; root < world().size(); ++root) {
    at::Tensor values =
        world().rank() == root ? at::arange(13, at::kFloat).add(100 * root) : at::full({13}, -1.0f);
    world().broadcast(values, root);
    EXPECT_TRUE(values.equal(at::arange(13, at::kFloat).add(100 * root))) << "root " << root;
  }
}

TEST(Communicator, AllGatherStacksInRankOrder) {
  const int rank = world().rank();
  const at::Tensor mine = at::tensor({rank, 2 * rank, 3 * rank}, at::kInt).view({3, 1});
  const at::Tensor gathered = world().allGather(mine);
  ASSERT_EQ(gathered.sizes().vec(), (std::vector<int64_t>{world().size(), 3, 1}));
  for (int r = 0; r < world().size(); ++r) {
    EXPECT_TRUE(gathered[r].equal(at::tensor({r, 2 * r, 3 * r}, at::kInt).view({3, 1})));
  }
}

TEST(Communicator, SendRecvAroundTheRing) {
  const int size = world().size();
  if (size == 1) GTEST_SKIP() << "needs two ranks";
  const int rank = world().rank();
  const int next = (rank + 1) % size;
  const int previous = (rank + size - 1) % size;
  const at::Tensor outgoing = at::full({9}, static_cast<double>(rank), at::kDouble);
  at::Tensor incoming = at::empty({9}, at::kDouble);
  // Even ranks send first so that blocking calls cannot deadlock, whatever the size.
  if (rank % 2 == 0) {
    world().send(outgoing, next);
    world().recv(incoming, previous);
  } else {
    world().recv(incoming, previous);
    world().send(outgoing, next);
  }
  EXPECT_TRUE(incoming.equal(at::full({9}, static_cast<double>(previous), at::kDouble)));
}

TEST(Communicator, ReduceScatterHandsEachRankItsPartOfTheSum) {
  const int size = world().size();
  const int rank = world().rank();
  for (const int64_t perRank : {1, 5, 257}) {
    for (const auto type : {at::kFloat, at::kDouble, at::kLong, at::kHalf, at::kBFloat16}) {
      const at::Tensor mine = world().reduceScatter(rankRamp(perRank * size, type));
      // Element j of the part is element rank * perRank + j of the sum: (j + 1) * size(size+1)/2.
      const at::Tensor expected =
          at::arange(rank * perRank + 1, (rank + 1) * perRank + 1, at::kDouble)
              .mul(size * (size + 1) / 2.0);
      ASSERT_EQ(mine.numel(), perRank);
      EXPECT_TRUE(at::allclose(mine.to(at::kDouble), expected, 1e-2))
          << "perRank=" << perRank << " type=" << type;
    }
  }
  const at::Tensor averaged =
      world().reduceScatter(rankRamp(3 * size, at::kDouble), ReduceOp::kAvg);
  EXPECT_TRUE(at::allclose(
      averaged, at::arange(3 * rank + 1, 3 * rank + 4, at::kDouble).mul((size + 1) / 2.0)));
}

// Into a buffer of the caller's, done once wait() returns (the reducer's overlapped path).
TEST(Communicator, StartedReduceScatterFillsTheCallersBuffer) {
  const int size = world().size();
  const at::Tensor input = rankRamp(7 * size, at::kFloat);
  at::Tensor output = at::full({7}, -1.0f);
  world().startReduceScatter(input, output, ReduceOp::kAvg)->wait();
  EXPECT_TRUE(output.equal(world().reduceScatter(input, ReduceOp::kAvg)));
  at::Tensor wrong = at::empty({8});
  EXPECT_THROW(world().startReduceScatter(input, wrong, ReduceOp::kSum), std::exception);
}

TEST(Communicator, ReduceScatterNeedsAMultipleOfTheWorld) {
  if (world().size() == 1) GTEST_SKIP() << "every count is a multiple of one";
  EXPECT_THROW(world().reduceScatter(at::ones({world().size() + 1})), std::exception);
}

TEST(Communicator, StartedAllReduceHoldsTheSumAfterWait) {
  const int size = world().size();
  at::Tensor values = rankRamp(100, at::kFloat);
  world().startAllReduce(values, ReduceOp::kSum)->wait();
  EXPECT_TRUE(values.equal(at::arange(1, 101, at::kFloat).mul(size * (size + 1) / 2)));
}

// Even and odd ranks, each group ranked backwards: a grid's rows are split like this.
TEST(Communicator, SplitGroupsRanksByColorAndOrdersThemByKey) {
  const int size = world().size();
  const int rank = world().rank();
  const auto part = world().split(rank % 2, -rank);
  const int members = (size + 1 - rank % 2) / 2;  // ranks of this parity
  ASSERT_EQ(part->size(), members);
  EXPECT_EQ(part->rank(), members - 1 - rank / 2);
  EXPECT_EQ(part->backendName(), world().backendName());
  at::Tensor ranks = at::full({1}, static_cast<int64_t>(rank), at::kLong);
  part->allReduce(ranks, ReduceOp::kSum);
  int64_t expected = 0;
  for (int r = rank % 2; r < size; r += 2) expected += r;
  EXPECT_EQ(ranks.item<int64_t>(), expected);
  // A split of a split still works, and the parent stays usable.
  const auto single = part->split(part->rank(), 0);
  EXPECT_EQ(single->size(), 1);
  world().barrier();
}

// Every rank leaves a mark, the later ranks later; after the barrier every rank sees them all. A
// barrier that returned before the last rank arrived would let rank 0 count only its own.
TEST(Communicator, BarrierReturnsOnlyWhenEveryRankHasArrived) {
  const int rank = world().rank();
  const int size = world().size();
  // A directory name of rank 0's, for the ranks of this host (the MPI tests run on one host).
  at::Tensor token = at::full({1}, static_cast<int64_t>(::getpid()), at::kLong);
  world().broadcast(token, 0);
  const std::string marks = "/tmp/ringtrain-barrier-test-" + std::to_string(token.item<int64_t>());
  makeDirectories(marks);
  std::this_thread::sleep_for(std::chrono::milliseconds(100 * rank));
  writeFileDurably(marks + "/" + std::to_string(rank), "");
  world().barrier();
  EXPECT_EQ(static_cast<int>(listDirectory(marks).size()), size) << "rank " << rank;
  world().barrier();
  if (rank == 0) removeTree(marks);
}

}  // namespace
}  // namespace ringtrain::comm

// The NCCL backend against the same closed-form expectations as the MPI one. Skips where this
// host has no GPU for every local rank or the build has no NCCL.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "comm/Session.h"
#include "platform/Placement.h"

namespace ringtrain::comm {
namespace {

TEST(NcclCommunicator, AllReduceBroadcastAllGatherOnGpus) {
  const Topology& topology = testing::worldCommunicator().topology();
  if (!ncclCompiledIn()) GTEST_SKIP() << "built without NCCL";
  if (platform::visibleGpuCount() < topology.localSize) GTEST_SKIP() << "not enough GPUs visible";
  platform::Placement placement;
  placement.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(topology.localRank));
  placement.backend = Backend::kNccl;
  platform::applyPlacement(placement);
  const auto nccl = testing::session().makeCudaCommunicator(topology.localRank);
  const auto device = at::TensorOptions().device(at::kCUDA, topology.localRank);
  const int size = topology.size;

  at::Tensor values = at::arange(1, 1024, device.dtype(at::kFloat)).mul(topology.rank + 1);
  nccl->allReduce(values, ReduceOp::kSum);
  EXPECT_TRUE(values.cpu().equal(at::arange(1, 1024, at::kFloat).mul(size * (size + 1) / 2)));

  at::Tensor root = at::full({7}, topology.rank == 0 ? 5.0 : -1.0, device.dtype(at::kDouble));
  nccl->broadcast(root, 0);
  EXPECT_TRUE(root.cpu().equal(at::full({7}, 5.0, at::kDouble)));

  const at::Tensor gathered =
      nccl->allGather(at::full({2}, topology.rank, device.dtype(at::kLong)));
  for (int r = 0; r < size; ++r) EXPECT_TRUE(gathered[r].cpu().equal(at::full({2}, r, at::kLong)));

  for (const auto type : {at::kHalf, at::kBFloat16}) {
    at::Tensor small = at::full({33}, topology.rank + 1, device.dtype(type));
    nccl->allReduce(small, ReduceOp::kAvg);
    EXPECT_TRUE(small.cpu().to(at::kFloat).equal(at::full({33}, (size + 1) / 2.0f)));
  }

  const at::Tensor part =
      nccl->reduceScatter(at::arange(4 * size, device.dtype(at::kFloat)), ReduceOp::kSum);
  EXPECT_TRUE(
      part.cpu().equal(at::arange(4 * topology.rank, 4 * topology.rank + 4, at::kFloat).mul(size)));

  // Started on the communicator's stream, joined into the current one.
  at::Tensor later = at::ones({1 << 20}, device.dtype(at::kFloat));
  const auto pending = nccl->startAllReduce(later, ReduceOp::kSum);
  pending->wait();
  EXPECT_EQ(later.sum().item<double>(), static_cast<double>(size) * (1 << 20));

  const auto half = nccl->split(topology.rank % 2, topology.rank);
  at::Tensor ranks = at::full({1}, topology.rank, device.dtype(at::kLong));
  half->allReduce(ranks, ReduceOp::kSum);
  int64_t expected = 0;
  for (int r = topology.rank % 2; r < size; r += 2) expected += r;
  EXPECT_EQ(ranks.item<int64_t>(), expected);

  if (size > 1) {
    const at::Tensor outgoing = at::full({5}, topology.rank, device.dtype(at::kInt));
    at::Tensor incoming = at::empty({5}, device.dtype(at::kInt));
    nccl->startSendRecv(outgoing, (topology.rank + 1) % size, incoming,
                        (topology.rank + size - 1) % size)
        ->wait();
    EXPECT_TRUE(incoming.cpu().equal(at::full({5}, (topology.rank + size - 1) % size, at::kInt)));
  }
}

// A tensor a collective touched may be freed after its communicator is gone (the ring's
// thread-local landing buffer, a library user's gradients after the Runtime): the caching
// allocator then records an event on the communication stream, which must still exist.
TEST(NcclCommunicator, TensorsItTouchedCanBeFreedAfterItIsGone) {
  const Topology& topology = testing::worldCommunicator().topology();
  if (!ncclCompiledIn()) GTEST_SKIP() << "built without NCCL";
  if (platform::visibleGpuCount() < topology.localSize) GTEST_SKIP() << "not enough GPUs visible";
  const auto device = at::TensorOptions().device(at::kCUDA, topology.localRank);
  at::Tensor outlives = at::ones({1 << 16}, device.dtype(at::kFloat));
  {
    const auto nccl = testing::session().makeCudaCommunicator(topology.localRank);
    nccl->allReduce(outlives, ReduceOp::kSum);
    nccl->synchronize();
  }
  EXPECT_EQ(outlives.sum().item<double>(), static_cast<double>(topology.size) * (1 << 16));
  outlives = at::Tensor();  // freed here, after the communicator
  // A destroyed stream makes that free terminate the process ("invalid resource handle"); an
  // error left behind would surface in the next synchronising call.
  at::Tensor next = at::zeros({1 << 16}, device.dtype(at::kFloat));
  EXPECT_EQ(next.sum().item<double>(), 0.0);
}

}  // namespace
}  // namespace ringtrain::comm

// The NCCL backend against the same closed-form expectations as the MPI one. Skips where this
// host has no GPU for every local rank or the build has no NCCL.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "MpiTestEnvironment.h"
#include "ringtrain/comm/Session.h"
#include "ringtrain/platform/Placement.h"

namespace ringtrain::comm {
namespace {

TEST(NcclCommunicator, AllReduceBroadcastAllGatherOnGpus) {
  const Topology& topology = testing::worldCommunicator().topology();
  if (!ncclCompiledIn()) GTEST_SKIP() << "built without NCCL";
  if (platform::visibleGpuCount() < topology.localSize) GTEST_SKIP() << "not enough GPUs visible";
  platform::applyPlacement(
      {c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(topology.localRank)), 1});
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
}

}  // namespace
}  // namespace ringtrain::comm

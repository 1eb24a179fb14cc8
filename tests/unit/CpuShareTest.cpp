// How many threads a rank runs on the CPU (platform/Placement.h), from the host's cores, the cores
// the launcher lets it use, and the ranks on the host; which GPU it uses, and why GPUs that are
// there cannot be used.
#include <gtest/gtest.h>

#include "platform/CudaProbe.h"
#include "platform/Placement.h"

namespace ringtrain::platform {
namespace {

TEST(CpuShare, AnUnboundRankTakesItsShareOfTheHost) {
  const CpuShare share = cpuShare(16, 16, 4, 0);
  EXPECT_EQ(share.threads, 4);
  EXPECT_EQ(share.spareCoresPerRank, 0);
  EXPECT_TRUE(share.limit.empty());
  EXPECT_EQ(cpuShare(16, 16, 3, 0).spareCoresPerRank, 0);  // 5 threads each, 1 core left over
  EXPECT_EQ(cpuShare(2, 2, 1, 0).threads, 2);
}

TEST(CpuShare, ARankBoundToOneCoreRunsOneThreadAndSaysWhy) {
  // mpirun -np 1 binds the rank to a core: two threads on it ran at half the speed of one.
  const CpuShare share = cpuShare(2, 1, 1, 0);
  EXPECT_EQ(share.threads, 1);
  EXPECT_EQ(share.spareCoresPerRank, 0);
  EXPECT_NE(share.limit.find("1 of the host's 2 cores"), std::string::npos) << share.limit;
  EXPECT_NE(share.limit.find("--bind-to none lets each use its share"), std::string::npos)
      << share.limit;
}

TEST(CpuShare, ASocketSharedByRanksIsSharedAndTheFlagWins) {
  // Bound to an 8-core socket with 8 ranks on the 16-core host: 2 threads, as unbound.
  const CpuShare socket = cpuShare(16, 8, 8, 0);
  EXPECT_EQ(socket.threads, 2);
  EXPECT_TRUE(socket.limit.empty());
  const CpuShare flagged = cpuShare(2, 1, 1, 3);
  EXPECT_EQ(flagged.threads, 3);
  EXPECT_TRUE(flagged.limit.empty());
}

// Which GPU a rank uses, from the GPUs it sees and the ranks on its host.
TEST(GpuOfRank, RanksShareTheGpusTheySeeOneEach) {
  EXPECT_EQ(gpuOfRank(8, 3, 8), 3);
  EXPECT_EQ(gpuOfRank(8, 1, 2), 1);  // fewer ranks than GPUs: the first ones
  EXPECT_EQ(gpuOfRank(1, 0, 1), 0);
}

TEST(GpuOfRank, ARankThatSeesOneGpuAmongManyRanksHasItsOwn) {
  // srun --gpus-per-task=1, a Kubernetes device plugin, or CUDA_VISIBLE_DEVICES set per rank.
  EXPECT_EQ(gpuOfRank(1, 0, 4), 0);
  EXPECT_EQ(gpuOfRank(1, 3, 4), 0);
}

TEST(GpuOfRank, MoreRanksThanTheSeveralGpusTheySeeIsRefused) {
  EXPECT_EQ(gpuOfRank(2, 2, 4), std::nullopt);
  EXPECT_EQ(gpuOfRank(0, 0, 1), std::nullopt);
}

TEST(UnusableGpuReason, ADriverTooOldForTheRuntimeIsNamedWithBothVersions) {
  CudaProbe probe;
  probe.outcome = CudaProbe::Outcome::kDriverTooOld;
  probe.driverVersion = 12040;
  probe.runtimeVersion = 13000;
  const std::optional<std::string> reason = unusableGpuReason(probe);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("driver supports CUDA up to 12.4"), std::string::npos) << *reason;
  EXPECT_NE(reason->find("runs CUDA 13.0"), std::string::npos) << *reason;
  EXPECT_NE(reason->find("update the driver"), std::string::npos) << *reason;
}

TEST(UnusableGpuReason, OtherRuntimeFailuresCarryTheRuntimesMessage) {
  CudaProbe probe;
  probe.outcome = CudaProbe::Outcome::kFailed;
  probe.error = "all CUDA-capable devices are busy or unavailable";
  EXPECT_EQ(unusableGpuReason(probe),
            "CUDA cannot use the GPUs: all CUDA-capable devices are busy or unavailable");
}

TEST(UnusableGpuReason, NoDriverNoDeviceOrWorkingGpusAreNoProblem) {
  for (const auto outcome : {CudaProbe::Outcome::kDevices, CudaProbe::Outcome::kNoDevice,
                             CudaProbe::Outcome::kNoDriver, CudaProbe::Outcome::kNotCompiledIn}) {
    CudaProbe probe;
    probe.outcome = outcome;
    EXPECT_EQ(unusableGpuReason(probe), std::nullopt);
  }
}

TEST(UnusableGpuReason, ThisMachineSaysWhatItHas) {
  // Without a GPU (or its driver) the probe finds nothing to complain about; with working GPUs,
  // neither. Either way a CPU machine is not told that it has a broken GPU.
  const CudaProbe probe = probeCuda();
  if (probe.outcome == CudaProbe::Outcome::kDriverTooOld)
    GTEST_SKIP() << "this host's driver is old";
  EXPECT_EQ(unusableGpuReason(probe), std::nullopt);
  if (visibleGpuCount() > 0) {
    EXPECT_EQ(probe.outcome, CudaProbe::Outcome::kDevices);
  }
}

}  // namespace
}  // namespace ringtrain::platform

#include "platform/Placement.h"

#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "platform/CudaProbe.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::platform {

namespace {

int hostCores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

int allowedCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return hostCores();
  return std::max(1, CPU_COUNT(&set));
}

CpuShare cpuShare(int hostCores, int allowedCores, int localRanks, int threadsFlag) {
  CpuShare share;
  const int perRank = std::max(1, hostCores / std::max(1, localRanks));
  const bool bound = allowedCores < hostCores;
  // A rank bound to a set of cores may still share it with other ranks (--bind-to socket).
  const int automatic = bound ? std::min(allowedCores, perRank) : perRank;
  share.threads = threadsFlag > 0 ? threadsFlag : automatic;
  share.spareCoresPerRank =
      bound ? std::max(0, std::min(allowedCores, perRank) - share.threads)
            : std::max(0, hostCores - share.threads * localRanks) / std::max(1, localRanks);
  if (threadsFlag == 0 && automatic < perRank) {
    share.limit = "this rank may run on " + std::to_string(allowedCores) + " of the host's " +
                  std::to_string(hostCores) + " cores (its CPU affinity), so it runs " +
                  std::to_string(automatic) + " thread(s) instead of " + std::to_string(perRank) +
                  ". mpirun binds ranks to cores when it starts 2 or fewer: --bind-to none "
                  "lets each use its share";
  }
  return share;
}

std::optional<int> gpuOfRank(int visibleGpus, int localRank, int localRanks) {
  if (visibleGpus <= 0) return std::nullopt;
  if (localRanks <= visibleGpus) return localRank;
  if (visibleGpus == 1) return 0;
  return std::nullopt;
}

int visibleGpuCount() {
  return static_cast<int>(torch::cuda::device_count());
}

std::optional<std::string> unusableGpus() {
  if (visibleGpuCount() > 0) return std::nullopt;
  return unusableGpuReason(probeCuda());
}

Placement placeRank(const std::string& device, const std::string& backend,
                    const comm::Topology& topology, int threadsFlag, bool ncclCompiledIn) {
  RINGTRAIN_USER_CHECK(device == "auto" || device == "cpu" || device == "cuda",
                       "--device must be auto, cpu or cuda, got '" << device << "'");
  RINGTRAIN_USER_CHECK(backend == "auto" || backend == "mpi" || backend == "nccl",
                       "--backend must be auto, mpi or nccl, got '" << backend << "'");
  RINGTRAIN_USER_CHECK(threadsFlag >= 0, "--threads must not be negative");
  RINGTRAIN_USER_CHECK(!(backend == "nccl" && device == "cpu"),
                       "--backend nccl reduces CUDA tensors and cannot run with --device cpu");
  Placement placement;
  const CpuShare share = cpuShare(hostCores(), allowedCores(), topology.localSize, threadsFlag);
  placement.threads = share.threads;
  placement.spareCoresPerRank = share.spareCoresPerRank;
  placement.threadLimit = share.limit;
  if (device == "cpu") return placement;

  // The flag that asked for GPUs, for the errors.
  const std::string asked = backend == "nccl" ? "--backend nccl" : "--device cuda";
  const int gpus = visibleGpuCount();
  const std::optional<std::string> unusable = ncclCompiledIn ? unusableGpus() : std::nullopt;
  if (device == "auto" && backend != "nccl" && (gpus == 0 || !ncclCompiledIn)) {
    if (unusable && topology.localRank == 0) {
      placement.gpuWarning = "host " + topology.host +
                             " has GPUs that cannot be used: " + *unusable +
                             ". Training on the CPU instead.";
    }
    return placement;
  }
  RINGTRAIN_USER_CHECK(ncclCompiledIn,
                       asked << ": this ringtrain was built without CUDA/NCCL support");
  RINGTRAIN_USER_CHECK(!unusable, asked << ": host " << topology.host
                                        << " has GPUs that cannot be used: " << *unusable);
  RINGTRAIN_USER_CHECK(
      gpus > 0,
      asked << ": no GPU is visible on host " << topology.host << " (CUDA_VISIBLE_DEVICES="
            << (std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "unset")
            << (backend == "nccl" ? "); without GPUs use --backend auto or mpi"
                                  : "); use --device cpu"));
  const std::optional<int> gpu = gpuOfRank(gpus, topology.localRank, topology.localSize);
  RINGTRAIN_USER_CHECK(gpu, "host " << topology.host << " has " << gpus << " GPU(s) but "
                                    << topology.localSize
                                    << " ranks were started on it; start at most one rank per GPU "
                                       "(mpirun -npernode "
                                    << gpus
                                    << "), give each rank one GPU of its own (CUDA_VISIBLE_DEVICES "
                                       "per rank), or use --device cpu");
  placement.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(*gpu));
  placement.backend = backend == "mpi" ? comm::Backend::kMpi : comm::Backend::kNccl;
  return placement;
}

void applyPlacement(const Placement& placement) {
  if (!placement.gpuWarning.empty()) {
    std::cerr << "ringtrain: WARNING: " << placement.gpuWarning << std::endl;
  }
  at::set_num_threads(placement.threads);
  // Without this every rank would also create a CUDA context on GPU 0 for library handles.
  if (placement.device.is_cuda()) {
    c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(placement.device);
  }
}

}  // namespace ringtrain::platform

#include "ringtrain/platform/Placement.h"

#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "ringtrain/util/Error.h"

namespace ringtrain::platform {

int visibleGpuCount() {
  return static_cast<int>(torch::cuda::device_count());
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
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  placement.threads = threadsFlag > 0 ? threadsFlag : std::max(1, cores / topology.localSize);
  placement.spareCoresPerRank =
      std::max(0, cores - placement.threads * topology.localSize) / topology.localSize;
  if (device == "cpu") return placement;

  // The flag that asked for GPUs, for the errors.
  const std::string asked = backend == "nccl" ? "--backend nccl" : "--device cuda";
  const int gpus = visibleGpuCount();
  if (device == "auto" && backend != "nccl" && (gpus == 0 || !ncclCompiledIn)) return placement;
  RINGTRAIN_USER_CHECK(ncclCompiledIn,
                       asked << ": this ringtrain was built without CUDA/NCCL support");
  RINGTRAIN_USER_CHECK(
      gpus > 0,
      asked << ": no GPU is visible on host " << topology.host << " (CUDA_VISIBLE_DEVICES="
            << (std::getenv("CUDA_VISIBLE_DEVICES") ? std::getenv("CUDA_VISIBLE_DEVICES") : "unset")
            << (backend == "nccl" ? "); without GPUs use --backend auto or mpi"
                                  : "); use --device cpu"));
  RINGTRAIN_USER_CHECK(topology.localSize <= gpus,
                       "host " << topology.host << " has " << gpus << " GPU(s) but "
                               << topology.localSize
                               << " ranks were started on it; start at most one rank per GPU "
                                  "(mpirun -npernode "
                               << gpus << ") or use --device cpu");
  placement.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(topology.localRank));
  placement.backend = backend == "mpi" ? comm::Backend::kMpi : comm::Backend::kNccl;
  return placement;
}

void applyPlacement(const Placement& placement) {
  at::set_num_threads(placement.threads);
  // Without this every rank would also create a CUDA context on GPU 0 for library handles.
  if (placement.device.is_cuda()) {
    c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(placement.device);
  }
}

}  // namespace ringtrain::platform

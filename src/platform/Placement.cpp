#include "ringtrain/platform/Placement.h"

#include <ATen/Parallel.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include <algorithm>
#include <thread>

#include "ringtrain/util/Error.h"

namespace ringtrain::platform {

int visibleGpuCount() {
  return static_cast<int>(torch::cuda::device_count());
}

Placement placeRank(const std::string& requested, const comm::Topology& topology, int threadsFlag,
                    bool ncclCompiledIn) {
  RINGTRAIN_USER_CHECK(requested == "auto" || requested == "cpu" || requested == "cuda",
                       "--device must be auto, cpu or cuda, got '" << requested << "'");
  RINGTRAIN_USER_CHECK(threadsFlag >= 0, "--threads must not be negative");
  Placement placement;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  placement.threads = threadsFlag > 0 ? threadsFlag : std::max(1, cores / topology.localSize);
  placement.spareCoresPerRank =
      std::max(0, cores - placement.threads * topology.localSize) / topology.localSize;
  if (requested == "cpu") return placement;

  const int gpus = visibleGpuCount();
  if (requested == "auto" && (gpus == 0 || !ncclCompiledIn)) return placement;
  RINGTRAIN_USER_CHECK(ncclCompiledIn,
                       "--device cuda: this ringtrain was built without CUDA/NCCL support");
  RINGTRAIN_USER_CHECK(gpus > 0, "--device cuda: no GPU is visible on host " << topology.host);
  RINGTRAIN_USER_CHECK(topology.localSize <= gpus,
                       "host " << topology.host << " has " << gpus << " GPU(s) but "
                               << topology.localSize
                               << " ranks were started on it; start at most one rank per GPU "
                                  "(mpirun -npernode "
                               << gpus << ") or use --device cpu");
  placement.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(topology.localRank));
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

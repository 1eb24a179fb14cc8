// Where a rank computes: GPU `localRank` when GPUs are used, otherwise the CPU with a share of the
// host's cores.
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::platform {

struct Placement {
  c10::Device device{c10::kCPU};
  int threads = 1;  // intra-op threads for this rank
  // Cores on the host beyond every local rank's intra-op threads, per rank: room for helper
  // threads such as the gradient communication thread.
  int spareCoresPerRank = 0;
};

// requested: "auto" (GPU if this build has NCCL and a GPU is visible), "cpu" or "cuda".
// threadsFlag 0 means cores on the host / ranks on the host. Throws UserError if there are fewer
// GPUs than ranks on this host, or cuda is requested where none can be used.
Placement placeRank(const std::string& requested, const comm::Topology& topology, int threadsFlag,
                    bool ncclCompiledIn);

int visibleGpuCount();

// Applies the placement to this process (current CUDA device, LibTorch thread count).
void applyPlacement(const Placement& placement);

}  // namespace ringtrain::platform

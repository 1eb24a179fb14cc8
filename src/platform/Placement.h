// Where a rank computes: GPU `localRank` when GPUs are used, otherwise the CPU with a share of the
// host's cores.
#pragma once

#include <c10/core/Device.h>

#include <optional>
#include <string>

#include "comm/Session.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::platform {

struct Placement {
  c10::Device device{c10::kCPU};
  comm::Backend backend = comm::Backend::kMpi;  // what reduces the device's tensors
  int threads = 1;                              // intra-op threads for this rank
  // Cores on the host beyond every local rank's intra-op threads, per rank: room for helper
  // threads such as the gradient communication thread.
  int spareCoresPerRank = 0;
  // Whether MPI lets a second thread make MPI calls (comm::Session::allowsCommunicationThread),
  // as the reducer's communication thread does on CPU.
  bool communicationThread = true;
  // Why `threads` is below the host's cores / ranks (the launcher bound the rank to fewer
  // cores), for the log; empty otherwise.
  std::string threadLimit;
  // Why GPUs on the host are not used although --device auto would have used them (a driver too
  // old for this build's CUDA, say); applyPlacement prints it on the host's first rank.
  std::string gpuWarning;
};

// The CPU share of one rank. `hostCores`: the host's cores; `allowedCores`: those this process
// may run on (its affinity, which mpirun narrows when it binds ranks to cores); `localRanks`:
// ranks on the host; `threadsFlag`: --threads (0: automatic). Pure, for tests.
struct CpuShare {
  int threads = 1;
  int spareCoresPerRank = 0;
  std::string limit;  // as Placement::threadLimit
};
CpuShare cpuShare(int hostCores, int allowedCores, int localRanks, int threadsFlag);

// Which of the GPUs this rank sees it uses: GPU `localRank` when the host's ranks share what each
// sees (one each), or the only one it sees when there are more ranks than that: a launcher that
// gives each rank its own GPU (srun --gpus-per-task=1, a Kubernetes device plugin, a wrapper that
// sets CUDA_VISIBLE_DEVICES per rank) shows each just one. nullopt when neither holds: more ranks
// than the several GPUs they see. Pure, for tests.
std::optional<int> gpuOfRank(int visibleGpus, int localRank, int localRanks);

// The cores this process may run on (sched_getaffinity), or the host's when that cannot be read.
int allowedCores();

// device: "auto" (GPU if this build has NCCL and a GPU is visible), "cpu" or "cuda".
// backend: "auto" (NCCL on GPUs, MPI on CPU), "mpi" or "nccl" (which implies GPUs).
// threadsFlag 0 means cores on the host / ranks on the host. Throws UserError naming the flag if
// there are fewer GPUs than ranks on this host, or GPUs are asked for where none can be used.
Placement placeRank(const std::string& device, const std::string& backend,
                    const comm::Topology& topology, int threadsFlag, bool ncclCompiledIn);

int visibleGpuCount();

// Why the GPUs this host has cannot be used (platform/CudaProbe.h), when none is visible to
// LibTorch; nullopt where there are none or they work.
std::optional<std::string> unusableGpus();

// Applies the placement to this process (current CUDA device, LibTorch thread count) and prints
// its GPU warning.
void applyPlacement(const Placement& placement);

}  // namespace ringtrain::platform

// ringtrain as a library, for programs with their own model and loop (docs/your-own-model.md).
// A Runtime is the process's place in the job: it starts MPI (under mpirun, or alone as a world of
// one), pins the rank to its device (GPU `local rank`, or a share of the host's CPU cores) and owns
// the communicators. Create one, first thing in main(), and keep it until the end.
#pragma once

#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>

#include "ringtrain/comm/Communicator.h"
#include "ringtrain/platform/Placement.h"

namespace ringtrain {

struct RuntimeOptions {
  std::string device = "auto";   // auto (a GPU per rank where NCCL and GPUs are there), cpu, cuda
  std::string backend = "auto";  // auto (NCCL on GPUs, MPI on CPU), mpi, nccl
  int threads = 0;               // intra-op threads per rank; 0: the host's cores / its ranks
};

class Runtime {
 public:
  // UserError (on every rank) when the options cannot be met, e.g. fewer GPUs than ranks.
  Runtime(int& argc, char**& argv, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int rank() const;
  int worldSize() const;
  int localRank() const;  // among the ranks of this host
  bool isRankZero() const { return rank() == 0; }
  const platform::Placement& placement() const;
  const c10::Device& device() const { return placement().device; }

  // Collectives on tensors of device(): gradients, metrics.
  comm::Communicator& deviceCommunicator();
  // Collectives on small CPU tensors among all ranks: agreement, control messages.
  comm::Communicator& controlCommunicator();
  // Collectives on CPU tensors among the ranks of this host.
  comm::Communicator& hostCommunicator();

  // Runs `step` on every rank; if it throws on any rank, it throws on all of them
  // (comm::CollectiveFailure, with the failing rank's message), so that no rank is left waiting
  // in a collective the failed one never reaches.
  void onAllRanks(const std::function<void()>& step);
  // Ends every rank of the job now with `exitCode`.
  [[noreturn]] void abort(int exitCode) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ringtrain

// ringtrain as a library, for programs with their own model and loop (docs/your-own-model.md).
// A Runtime is the process's place in the job: it starts MPI (under mpirun, or alone as a world of
// one), pins the rank to its device (GPU `local rank`, or a share of the host's CPU cores), owns
// the communicators and watches them: a rank that waits in one communication call longer than
// commTimeoutSeconds (another rank died or hangs) reports it and ends the whole job, as
// `ringtrain train --comm-timeout` does, and the ranks exchange heartbeats so that a dead or
// frozen one is found within heartbeatTimeoutSeconds. Create one, first thing in main(), and keep
// it until the end.
#pragma once

#include <c10/core/Device.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "ringtrain/Export.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain {

struct RuntimeOptions {
  std::string device = "auto";   // auto (a GPU per rank where NCCL and GPUs are there), cpu, cuda
  std::string backend = "auto";  // auto (NCCL on GPUs, MPI on CPU), mpi, nccl
  int threads = 0;               // intra-op threads per rank; 0: the host's cores / its ranks
  // The longest a rank waits in one communication call before it ends the job; 0: forever.
  double commTimeoutSeconds = 300;
  // How long a rank may send no heartbeat (dead, frozen, its host gone) before the job ends with
  // a report naming it, as `ringtrain train --heartbeat-timeout`; 0: no heartbeats.
  double heartbeatTimeoutSeconds = 10;
};

class RINGTRAIN_API Runtime {
 public:
  // comm::CollectiveFailure on every rank when the options cannot be met, e.g. fewer GPUs than
  // ranks (the lowest rank that found it carries the message); a failure on one rank alone
  // (a GPU that will not start) ends the job as abortAfterFailure does.
  Runtime(int& argc, char**& argv, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  int rank() const;
  int worldSize() const;
  int localRank() const;  // among the ranks of this host
  bool isRankZero() const { return rank() == 0; }
  const c10::Device& device() const;

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
  // For a failure on this rank alone, outside onAllRanks: prints "<program>: error on rank R
  // (host): <what>" and ends every rank (exit status 2 for a UserError, 1 otherwise), so that no
  // rank is left waiting in a collective this one will never reach.
  [[noreturn]] void abortAfterFailure(const std::exception& error) const;
  double commTimeoutSeconds() const;  // as RuntimeOptions gave it

 private:
  struct State;
  friend struct RuntimeInternals;  // the library's own access (src/api/RuntimeInternals.h)
  std::unique_ptr<State> state_;
};

}  // namespace ringtrain

// Process-wide communication setup: starts MPI (which also gives world and local ranks), hands out
// communicators, and tears everything down. Create exactly one, in main(), for commands that talk
// to other ranks.
#pragma once

#include <c10/core/Device.h>

#include "comm/CallLog.h"
#include "comm/Watchdog.h"
#include "ringtrain/comm/Communicator.h"

#include <chrono>
#include <memory>
#include <string>

namespace ringtrain::comm {

// What reduces the tensors of the training device: MPI (for CUDA tensors, through host memory) or
// NCCL (CUDA tensors only).
enum class Backend { kMpi, kNccl };

class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Topology& topology() const { return topology_; }
  // Whether MPI allows a second thread to make MPI calls (taking turns with the main thread), as
  // the reducer's communication thread does when it overlaps gradients with backward on CPU.
  bool allowsCommunicationThread() const { return allowsCommunicationThread_; }

  // Collectives on CPU tensors through MPI. Also the control plane on GPU runs (metrics,
  // agreement). Collective; every communicator is its own channel, so two of them (one driven by
  // a communication thread, one by the main thread) never see each other's messages.
  std::unique_ptr<Communicator> makeCpuCommunicator() const;
  // Collectives on CPU tensors among the ranks of this host only (ranked by local rank). Collective
  // over all ranks.
  std::unique_ptr<Communicator> makeHostCommunicator() const;
  // Collectives on CUDA tensors of `device` through NCCL; throws UserError in builds without NCCL.
  std::unique_ptr<Communicator> makeCudaCommunicator(int device) const;
  // A new channel for tensors on `device` through `backend`: NCCL, or MPI (for a CUDA device,
  // staging every message through host memory). Collective.
  std::unique_ptr<Communicator> makeCommunicatorFor(const c10::Device& device,
                                                    Backend backend) const;

  // From now on, when a blocking call of any communicator this session made (before or after),
  // or work one of them queued on a GPU, has not finished after `timeout` (plus `holdBack`),
  // `onTimeout` runs on the watchdog's thread; it is expected to end the process without calling
  // MPI. A zero timeout leaves calls unbounded.
  void limitWaits(std::chrono::milliseconds timeout, Watchdog::Handler onTimeout,
                  std::chrono::milliseconds holdBack);

  // Every call of the communicators this session made (and the ones split from them).
  const CallLog& callLog() const { return *callLog_; }

  // Ends every rank of the job now. Used when a rank fails while others may sit in a collective.
  [[noreturn]] void abortJob(int exitCode) const;

 private:
  // `group`: as CallLog::newCommunicator takes it.
  std::unique_ptr<Communicator> watched(std::unique_ptr<Communicator> communicator,
                                        int64_t group = 0) const;
  void findHostRanks();

  Topology topology_;
  int hostGroup_ = 0;  // the lowest world rank on this host: names the host's group
  bool allowsCommunicationThread_ = false;
  std::shared_ptr<Watchdog> watchdog_ = std::make_shared<Watchdog>();
  std::shared_ptr<CallLog> callLog_ = std::make_shared<CallLog>();
};

// Versions for `ringtrain info`; callable without a Session.
std::string mpiLibraryVersion();
std::string ncclVersion();  // "not compiled in" without NCCL
bool ncclCompiledIn();

}  // namespace ringtrain::comm

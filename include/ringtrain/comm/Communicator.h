// The one interface through which ringtrain talks to other ranks. Backends (MPI for CPU tensors,
// NCCL for CUDA tensors) live in src/comm/ and are the only code that includes mpi.h or nccl.h.
//
// Contract shared by all backends:
// - Calls are collective where the name says so: every rank must make the same calls in the same
//   order with tensors of the same shape and dtype.
// - Calls are blocking from the caller's point of view: when one returns, the tensor holds the
//   result (for NCCL: the work is ordered on the current CUDA stream).
// - A world of one is valid: collectives are identities, and send/recv to self are errors.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>

namespace ringtrain::comm {

enum class ReduceOp { kSum, kAvg, kMin, kMax };

// A point-to-point exchange that has been started. wait() returns once both directions are done
// (for NCCL: once the work is ordered on the current stream). Destroying an unfinished transfer
// waits for it, so buffers are never released under a running transfer.
class PendingTransfer {
 public:
  virtual ~PendingTransfer() = default;
  virtual void wait() = 0;
};

// Where this process sits in the job. localRank/localSize count ranks on the same host.
struct Topology {
  int rank = 0;
  int size = 1;
  int localRank = 0;
  int localSize = 1;
  std::string host;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual const Topology& topology() const = 0;
  int rank() const { return topology().rank; }
  int size() const { return topology().size; }
  virtual std::string backendName() const = 0;
  // True where the host CPU does the reductions of allReduce (MPI), false where the device does
  // (NCCL). Decides AllReduceAlgorithm::kAuto.
  virtual bool reducesOnHost() const = 0;

  // In place; kAvg divides the sum by size() and is only valid for floating-point tensors.
  virtual void allReduce(at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) = 0;
  // In place: after the call every rank holds root's values.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  // Returns a tensor of shape [size(), ...tensor.shape] holding every rank's input in rank order.
  virtual at::Tensor allGather(const at::Tensor& tensor) = 0;
  virtual void send(const at::Tensor& tensor, int peer) = 0;
  // Receives into `tensor`, which must already have the sender's shape and dtype.
  virtual void recv(at::Tensor& tensor, int peer) = 0;
  // Starts sending `outgoing` to rank `to` while receiving `incoming` (already shaped like the
  // peer's message) from rank `from`, without blocking: a ring posts many of these and works on
  // each piece as it lands. Both peers may be the same rank; neither may be this rank.
  virtual std::unique_ptr<PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                         at::Tensor& incoming, int from) = 0;
  virtual void barrier() = 0;
  // Returns once the work this communicator has enqueued is done (NCCL runs asynchronously on a
  // CUDA stream; MPI calls are already complete when they return). For timing.
  virtual void synchronize() {}
};

}  // namespace ringtrain::comm

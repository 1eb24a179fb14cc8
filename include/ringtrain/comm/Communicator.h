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

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "ringtrain/Export.h"

namespace ringtrain::comm {

enum class ReduceOp { kSum, kAvg, kMin, kMax };

// How allReduce is done (comm/AllReduce.h):
// kAuto: the ring for large messages where the CPU reduces (MPI), the backend's own otherwise.
// Reducing each piece as it lands keeps it in cache, where a whole-message reduction reads the
// message back from memory; in training this made large buckets' allreduce faster (see
// docs/BENCHMARKS.md), while for small messages the backend's fewer messages win.
enum class AllReduceAlgorithm { kAuto, kNative, kRing };

struct RingOptions {
  // Size of the pieces a segment travels in: small enough that reducing one piece overlaps the
  // transfer of the next, large enough that per-message latency stays hidden.
  int64_t pieceBytes = 1024 * 1024;
  // kAuto uses the ring for messages of at least this size on host-reducing backends.
  int64_t autoRingFromBytes = 16LL * 1024 * 1024;
};

// A point-to-point exchange that has been started. wait() returns once both directions are done
// (for NCCL: once the work is ordered on the current stream). Destroying an unfinished transfer
// waits for it, so buffers are never released under a running transfer.
class RINGTRAIN_API PendingTransfer {
 public:
  virtual ~PendingTransfer() = default;
  virtual void wait() = 0;
};

// A transfer that was complete when it was handed out (backends whose calls block).
class CompletedTransfer final : public PendingTransfer {
 public:
  void wait() override {}
};

// Where this process sits in the job. localRank/localSize count ranks on the same host.
struct Topology {
  int rank = 0;
  int size = 1;
  int localRank = 0;
  int localSize = 1;
  std::string host;
};

class RINGTRAIN_API Communicator {
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
  // allReduce that may still be running when it returns: NCCL runs it on a stream of its own, so
  // that kernels queued after it (the rest of backward) do not wait for it; wait() then orders the
  // result before whatever the current stream does next. `tensor` must stay alive until then.
  // Backends whose calls block finish it here.
  virtual std::unique_ptr<PendingTransfer> startAllReduce(at::Tensor& tensor, ReduceOp op) {
    allReduce(tensor, op);
    return std::make_unique<CompletedTransfer>();
  }
  // Reduces `tensor` (numel a multiple of size()) across ranks and returns this rank's part of the
  // result: elements [rank * n, (rank + 1) * n) of the flattened sum, n = numel / size(), 1-D.
  virtual at::Tensor reduceScatter(const at::Tensor& tensor, ReduceOp op = ReduceOp::kSum) = 0;
  // reduceScatter that may still be running when it returns, as startAllReduce: `output` (numel /
  // size() elements of the tensor's type; `tensor` and `output` kept alive until wait()) receives
  // this rank's part. Backends whose calls block finish it here.
  virtual std::unique_ptr<PendingTransfer> startReduceScatter(const at::Tensor& tensor,
                                                              at::Tensor& output, ReduceOp op) {
    const at::Tensor mine = reduceScatter(tensor, op);
    if (output.numel() != mine.numel()) throw std::invalid_argument("reduceScatter output size");
    output.view(-1).copy_(mine);
    return std::make_unique<CompletedTransfer>();
  }
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
  // Starts sending `tensor` (kept alive by the caller until wait()) and returns at once where the
  // backend can, so that the sender goes on working while the receiver is still busy: a pipeline
  // stage runs ahead of the next. Backends whose sends block finish it here.
  virtual std::unique_ptr<PendingTransfer> startSend(const at::Tensor& tensor, int peer) {
    send(tensor, peer);
    return std::make_unique<CompletedTransfer>();
  }
  // Posts a receive into `tensor` (shaped like the message; kept alive until wait()) ahead of
  // time, so that the message lands as soon as it is sent. Backends without non-blocking receives
  // receive in wait().
  virtual std::unique_ptr<PendingTransfer> startRecv(at::Tensor& tensor, int peer);
  // True where startSend and startRecv return before their transfer is done, without waiting for
  // the peer (MPI). Elsewhere a send may wait for the peer's receive (NCCL), so a pipeline pairs
  // a send with the receive that follows it in one startSendRecv.
  virtual bool asynchronousPointToPoint() const { return false; }
  virtual void barrier() = 0;
  // Collective over this communicator: the ranks that pass the same `color` get a communicator of
  // their own, ranked by `key` (ties by rank here), with the same backend. Every rank must split
  // the same communicators in the same order (as the pipeline/data grid does).
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;
  // Returns once the work this communicator has enqueued is done (NCCL runs asynchronously on a
  // CUDA stream, shared by the communicators of a device, so this waits for all of theirs; MPI
  // calls are already complete when they return). For timing.
  virtual void synchronize() {}
};

// A receive made in wait(): what startRecv gives on backends without non-blocking receives. One
// destroyed without a wait() receives nothing.
class DeferredReceive final : public PendingTransfer {
 public:
  DeferredReceive(Communicator& comm, at::Tensor& tensor, int peer)
      : comm_(comm), tensor_(tensor), peer_(peer) {}
  void wait() override {
    if (done_) return;
    done_ = true;
    comm_.recv(tensor_, peer_);
  }

 private:
  Communicator& comm_;
  at::Tensor tensor_;  // shares the caller's storage
  int peer_;
  bool done_ = false;
};

inline std::unique_ptr<PendingTransfer> Communicator::startRecv(at::Tensor& tensor, int peer) {
  return std::make_unique<DeferredReceive>(*this, tensor, peer);
}

}  // namespace ringtrain::comm

// --backend mpi on GPUs: every message is copied to host memory, goes through the MPI backend,
// and is copied back. Slower than NCCL by the copies, but it needs nothing beyond MPI, which makes
// it the fallback where NCCL cannot run (no NCCL for this driver, a network NCCL cannot use).
#pragma once

#include <c10/core/Device.h>

#include <memory>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

class HostStagedCommunicator final : public Communicator {
 public:
  HostStagedCommunicator(std::unique_ptr<Communicator> host, c10::Device device);

  const Topology& topology() const override { return host_->topology(); }
  std::string backendName() const override { return host_->backendName() + " (through host)"; }
  bool reducesOnHost() const override { return true; }
  void allReduce(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor reduceScatter(const at::Tensor& tensor, ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor allGather(const at::Tensor& tensor) override;
  void send(const at::Tensor& tensor, int peer) override;
  void recv(at::Tensor& tensor, int peer) override;
  std::unique_ptr<PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                 at::Tensor& incoming, int from) override;
  void barrier() override { host_->barrier(); }
  std::unique_ptr<Communicator> split(int color, int key) override;
  void synchronize() override { host_->synchronize(); }

 private:
  std::unique_ptr<Communicator> host_;
  c10::Device device_;
};

}  // namespace ringtrain::comm

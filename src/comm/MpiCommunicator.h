// Communicator over MPI_COMM_WORLD for contiguous CPU tensors.
#pragma once

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(Topology topology) : topology_(std::move(topology)) {}

  const Topology& topology() const override { return topology_; }
  std::string backendName() const override { return "mpi"; }
  void allReduce(at::Tensor& tensor, ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor allGather(const at::Tensor& tensor) override;
  void send(const at::Tensor& tensor, int peer) override;
  void recv(at::Tensor& tensor, int peer) override;
  void barrier() override;

 private:
  Topology topology_;
};

}  // namespace ringtrain::comm

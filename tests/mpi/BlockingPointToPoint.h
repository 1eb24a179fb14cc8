// A communicator that hides another's asynchronous point-to-point transfers, so that code written
// for backends whose sends wait for the receiver (NCCL) runs, and is checked, over MPI on CPU.
#pragma once

#include <memory>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::testing {

class BlockingPointToPoint final : public comm::Communicator {
 public:
  explicit BlockingPointToPoint(std::unique_ptr<comm::Communicator> inner)
      : inner_(std::move(inner)) {}

  const comm::Topology& topology() const override { return inner_->topology(); }
  std::string backendName() const override { return inner_->backendName(); }
  bool reducesOnHost() const override { return inner_->reducesOnHost(); }
  void allReduce(at::Tensor& tensor, comm::ReduceOp op) override { inner_->allReduce(tensor, op); }
  at::Tensor reduceScatter(const at::Tensor& tensor, comm::ReduceOp op) override {
    return inner_->reduceScatter(tensor, op);
  }
  void broadcast(at::Tensor& tensor, int root) override { inner_->broadcast(tensor, root); }
  at::Tensor allGather(const at::Tensor& tensor) override { return inner_->allGather(tensor); }
  void send(const at::Tensor& tensor, int peer) override { inner_->send(tensor, peer); }
  void recv(at::Tensor& tensor, int peer) override { inner_->recv(tensor, peer); }
  std::unique_ptr<comm::PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                       at::Tensor& incoming, int from) override {
    return inner_->startSendRecv(outgoing, to, incoming, from);
  }
  void barrier() override { inner_->barrier(); }
  std::unique_ptr<comm::Communicator> split(int color, int key) override {
    return std::make_unique<BlockingPointToPoint>(inner_->split(color, key));
  }
  // startSend, startRecv and asynchronousPointToPoint keep the Communicator defaults.

 private:
  std::unique_ptr<comm::Communicator> inner_;
};

}  // namespace ringtrain::testing

// Communicator for contiguous CPU tensors over its own duplicate of MPI_COMM_WORLD, so that the
// traffic of one communicator (say, gradient buckets on a communication thread) can never match
// the messages of another (the control plane).
#pragma once

#include "comm/Mpi.h"

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Collective over MPI_COMM_WORLD.
  explicit MpiCommunicator(Topology topology);
  // Collective over MPI_COMM_WORLD: the ranks that pass the same `group` get a communicator of
  // their own, ranked by `order`; `topology` is this rank's place in it.
  MpiCommunicator(Topology topology, int group, int order);
  // Takes ownership of `comm`; ranks, sizes and host ranks are read from it.
  MpiCommunicator(MPI_Comm comm, std::string host);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  const Topology& topology() const override { return topology_; }
  std::string backendName() const override { return "mpi"; }
  bool reducesOnHost() const override { return true; }
  void allReduce(at::Tensor& tensor, ReduceOp op) override;
  at::Tensor reduceScatter(const at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<PendingTransfer> startReduceScatter(const at::Tensor& tensor, at::Tensor& output,
                                                      ReduceOp op) override;
  void broadcast(at::Tensor& tensor, int root) override;
  at::Tensor allGather(const at::Tensor& tensor) override;
  void send(const at::Tensor& tensor, int peer) override;
  void recv(at::Tensor& tensor, int peer) override;
  std::unique_ptr<PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                 at::Tensor& incoming, int from) override;
  std::unique_ptr<PendingTransfer> startSend(const at::Tensor& tensor, int peer) override;
  std::unique_ptr<PendingTransfer> startRecv(at::Tensor& tensor, int peer) override;
  bool asynchronousPointToPoint() const override { return true; }
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  // MPI has no 16-bit floating types; these reduce them as float, element by element.
  struct HalfPrecision {
    MPI_Datatype type = MPI_DATATYPE_NULL;
    MPI_Op halfSum = MPI_OP_NULL, halfMin = MPI_OP_NULL, halfMax = MPI_OP_NULL;
    MPI_Op bfloatSum = MPI_OP_NULL, bfloatMin = MPI_OP_NULL, bfloatMax = MPI_OP_NULL;
  };
  void prepare();
  MPI_Datatype datatypeOf(at::ScalarType type) const;
  MPI_Op operationFor(at::ScalarType type, ReduceOp op) const;

  Topology topology_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  HalfPrecision half_;
};

}  // namespace ringtrain::comm

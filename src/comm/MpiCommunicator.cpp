#include "MpiCommunicator.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <climits>

#include "MpiCheck.h"

namespace ringtrain::comm {
namespace {

MPI_Datatype mpiType(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kLong:
      return MPI_INT64_T;
    case at::kInt:
      return MPI_INT32_T;
    case at::kByte:
      return MPI_UINT8_T;
    case at::kChar:
      return MPI_INT8_T;
    default:
      RINGTRAIN_CHECK(false, "the MPI backend cannot reduce tensors of type " << type);
  }
}

MPI_Op mpiOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return MPI_SUM;
    case ReduceOp::kMin:
      return MPI_MIN;
    case ReduceOp::kMax:
      return MPI_MAX;
  }
  RINGTRAIN_CHECK(false, "unknown ReduceOp");
}

void checkCpuContiguous(const at::Tensor& tensor, const char* what) {
  RINGTRAIN_CHECK(tensor.defined() && tensor.device().is_cpu() && tensor.is_contiguous(),
                  what << " needs a defined, contiguous CPU tensor");
}

// MPI counts are ints; larger tensors go through in pieces of at most this many elements.
constexpr int64_t kMaxElementsPerCall = INT_MAX / 8;

void checkPeer(int peer, const Topology& topology) {
  RINGTRAIN_CHECK(peer >= 0 && peer < topology.size && peer != topology.rank,
                  "peer " << peer << " is not another rank of a world of " << topology.size);
}

int byteCount(const at::Tensor& tensor) {
  RINGTRAIN_CHECK(tensor.nbytes() <= static_cast<size_t>(INT_MAX),
                  "point-to-point messages above 2 GiB are not supported");
  return static_cast<int>(tensor.nbytes());
}

}  // namespace

void MpiCommunicator::allReduce(at::Tensor& tensor, ReduceOp op) {
  checkCpuContiguous(tensor, "allReduce");
  RINGTRAIN_CHECK(op != ReduceOp::kAvg || at::isFloatingType(tensor.scalar_type()),
                  "ReduceOp::kAvg needs a floating-point tensor");
  const MPI_Datatype type = mpiType(tensor.scalar_type());
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  const int64_t elementSize = tensor.element_size();
  for (int64_t offset = 0; offset < tensor.numel(); offset += kMaxElementsPerCall) {
    const auto count = static_cast<int>(std::min(kMaxElementsPerCall, tensor.numel() - offset));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, bytes + offset * elementSize, count, type, mpiOp(op),
                            MPI_COMM_WORLD));
  }
  if (op == ReduceOp::kAvg) tensor.div_(topology_.size);
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  checkCpuContiguous(tensor, "broadcast");
  RINGTRAIN_CHECK(root >= 0 && root < topology_.size, "broadcast root " << root);
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  const auto total = static_cast<int64_t>(tensor.nbytes());
  for (int64_t offset = 0; offset < total; offset += kMaxElementsPerCall) {
    const auto count = static_cast<int>(std::min(kMaxElementsPerCall, total - offset));
    MPI_CHECK(MPI_Bcast(bytes + offset, count, MPI_BYTE, root, MPI_COMM_WORLD));
  }
}

at::Tensor MpiCommunicator::allGather(const at::Tensor& tensor) {
  checkCpuContiguous(tensor, "allGather");
  std::vector<int64_t> shape{topology_.size};
  shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
  at::Tensor gathered = at::empty(shape, tensor.options());
  const int count = byteCount(tensor);
  MPI_CHECK(MPI_Allgather(tensor.data_ptr(), count, MPI_BYTE, gathered.data_ptr(), count, MPI_BYTE,
                          MPI_COMM_WORLD));
  return gathered;
}

void MpiCommunicator::send(const at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "send");
  checkPeer(peer, topology_);
  MPI_CHECK(MPI_Send(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, 0, MPI_COMM_WORLD));
}

void MpiCommunicator::recv(at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "recv");
  checkPeer(peer, topology_);
  MPI_Status status;
  MPI_CHECK(
      MPI_Recv(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, 0, MPI_COMM_WORLD, &status));
  int received = 0;
  MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &received));
  RINGTRAIN_CHECK(received == byteCount(tensor), "recv from rank " << peer << " got " << received
                                                                   << " bytes, expected "
                                                                   << byteCount(tensor));
}

void MpiCommunicator::barrier() {
  MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
}

}  // namespace ringtrain::comm

#include "MpiCommunicator.h"

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <climits>

#include "MpiCheck.h"
#include "MpiTopology.h"

namespace ringtrain::comm {
namespace {

// MPI user operations for 16-bit floats: widen to float, combine, round back.
template <typename Value, typename Combine>
void combineAsFloat(void* in, void* inout, int* count, MPI_Datatype*) {
  const auto* source = static_cast<const Value*>(in);
  auto* target = static_cast<Value*>(inout);
  for (int i = 0; i < *count; ++i) {
    target[i] = Value(Combine()(static_cast<float>(source[i]), static_cast<float>(target[i])));
  }
}
struct Add {
  float operator()(float a, float b) const { return a + b; }
};
struct Min {
  float operator()(float a, float b) const { return std::min(a, b); }
};
struct Max {
  float operator()(float a, float b) const { return std::max(a, b); }
};

MPI_Op createOp(MPI_User_function* function) {
  MPI_Op op = MPI_OP_NULL;
  MPI_CHECK(MPI_Op_create(function, /*commute=*/1, &op));
  return op;
}

MPI_Datatype builtinType(at::ScalarType type) {
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

MPI_Op builtinOp(ReduceOp op) {
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

// One tag for every point-to-point message, blocking or not, so that a send matches the
// neighbour's receive whichever of the calls each side made (messages between two ranks on one
// communicator then match in the order they were posted).
constexpr int kPointToPointTag = 1;

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

// requests()[0] receives (from `from`, `bytes` expected), requests()[1] sends; either may be
// left null.
class MpiTransfer final : public PendingTransfer {
 public:
  MpiTransfer() = default;
  MpiTransfer(int from, int bytes) : from_(from), bytes_(bytes) {}
  void wait() override {
    if (done_) return;
    MPI_Status statuses[2];
    MPI_CHECK(MPI_Waitall(2, requests_, statuses));
    done_ = true;
    if (from_ < 0) return;
    int received = 0;
    MPI_CHECK(MPI_Get_count(&statuses[0], MPI_BYTE, &received));
    RINGTRAIN_CHECK(received == bytes_, "receive from rank " << from_ << " got " << received
                                                             << " bytes, expected " << bytes_);
  }
  ~MpiTransfer() override {
    if (!done_) MPI_Waitall(2, requests_, MPI_STATUSES_IGNORE);
  }
  MPI_Request* requests() { return requests_; }

 private:
  MPI_Request requests_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  int from_ = -1;
  int bytes_ = 0;
  bool done_ = false;
};

}  // namespace

MpiCommunicator::MpiCommunicator(Topology topology) : topology_(std::move(topology)) {
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  prepare();
}

MpiCommunicator::MpiCommunicator(Topology topology, int group, int order)
    : topology_(std::move(topology)) {
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, group, order, &comm_));
  prepare();
  int rank = 0;
  int size = 0;
  MPI_CHECK(MPI_Comm_rank(comm_, &rank));
  MPI_CHECK(MPI_Comm_size(comm_, &size));
  RINGTRAIN_CHECK(rank == topology_.rank && size == topology_.size,
                  "group of " << size << " with this rank at " << rank << ", expected "
                              << topology_.size << " and " << topology_.rank);
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string host)
    : topology_(topologyOf(comm, std::move(host))), comm_(comm) {
  prepare();
}

void MpiCommunicator::prepare() {
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &half_.type));
  MPI_CHECK(MPI_Type_commit(&half_.type));
  half_.halfSum = createOp(&combineAsFloat<c10::Half, Add>);
  half_.halfMin = createOp(&combineAsFloat<c10::Half, Min>);
  half_.halfMax = createOp(&combineAsFloat<c10::Half, Max>);
  half_.bfloatSum = createOp(&combineAsFloat<c10::BFloat16, Add>);
  half_.bfloatMin = createOp(&combineAsFloat<c10::BFloat16, Min>);
  half_.bfloatMax = createOp(&combineAsFloat<c10::BFloat16, Max>);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (MPI_Op* op : {&half_.halfSum, &half_.halfMin, &half_.halfMax, &half_.bfloatSum,
                     &half_.bfloatMin, &half_.bfloatMax}) {
    MPI_Op_free(op);
  }
  MPI_Type_free(&half_.type);
  MPI_Comm_free(&comm_);
}

MPI_Datatype MpiCommunicator::datatypeOf(at::ScalarType type) const {
  if (type == at::kHalf || type == at::kBFloat16) return half_.type;
  return builtinType(type);
}

MPI_Op MpiCommunicator::operationFor(at::ScalarType type, ReduceOp op) const {
  const bool sum = op == ReduceOp::kSum || op == ReduceOp::kAvg;
  if (type == at::kHalf) {
    return sum ? half_.halfSum : op == ReduceOp::kMin ? half_.halfMin : half_.halfMax;
  }
  if (type == at::kBFloat16) {
    return sum ? half_.bfloatSum : op == ReduceOp::kMin ? half_.bfloatMin : half_.bfloatMax;
  }
  return builtinOp(op);
}

void MpiCommunicator::allReduce(at::Tensor& tensor, ReduceOp op) {
  checkCpuContiguous(tensor, "allReduce");
  RINGTRAIN_CHECK(op != ReduceOp::kAvg || at::isFloatingType(tensor.scalar_type()),
                  "ReduceOp::kAvg needs a floating-point tensor");
  const MPI_Datatype type = datatypeOf(tensor.scalar_type());
  const MPI_Op reduction = operationFor(tensor.scalar_type(), op);
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  const int64_t elementSize = tensor.element_size();
  for (int64_t offset = 0; offset < tensor.numel(); offset += kMaxElementsPerCall) {
    const auto count = static_cast<int>(std::min(kMaxElementsPerCall, tensor.numel() - offset));
    MPI_CHECK(
        MPI_Allreduce(MPI_IN_PLACE, bytes + offset * elementSize, count, type, reduction, comm_));
  }
  if (op == ReduceOp::kAvg) tensor.div_(topology_.size);
}

at::Tensor MpiCommunicator::reduceScatter(const at::Tensor& tensor, ReduceOp op) {
  at::Tensor mine = at::empty({tensor.numel() / topology_.size}, tensor.options());
  startReduceScatter(tensor, mine, op);
  return mine;
}

std::unique_ptr<PendingTransfer> MpiCommunicator::startReduceScatter(const at::Tensor& tensor,
                                                                     at::Tensor& output,
                                                                     ReduceOp op) {
  checkCpuContiguous(tensor, "reduceScatter");
  checkCpuContiguous(output, "reduceScatter");
  RINGTRAIN_CHECK(tensor.numel() % topology_.size == 0 &&
                      output.numel() == tensor.numel() / topology_.size &&
                      output.scalar_type() == tensor.scalar_type(),
                  "reduceScatter of " << tensor.numel() << " elements over " << topology_.size
                                      << " ranks into " << output.numel());
  RINGTRAIN_CHECK(op != ReduceOp::kAvg || at::isFloatingType(tensor.scalar_type()),
                  "ReduceOp::kAvg needs a floating-point tensor");
  const int64_t part = output.numel();
  RINGTRAIN_CHECK(part <= INT_MAX, "reduceScatter parts above 2^31 elements are not supported");
  MPI_CHECK(MPI_Reduce_scatter_block(tensor.data_ptr(), output.data_ptr(), static_cast<int>(part),
                                     datatypeOf(tensor.scalar_type()),
                                     operationFor(tensor.scalar_type(), op), comm_));
  if (op == ReduceOp::kAvg) output.div_(topology_.size);
  return std::make_unique<CompletedTransfer>();
}

void MpiCommunicator::broadcast(at::Tensor& tensor, int root) {
  checkCpuContiguous(tensor, "broadcast");
  RINGTRAIN_CHECK(root >= 0 && root < topology_.size, "broadcast root " << root);
  auto* bytes = static_cast<char*>(tensor.data_ptr());
  const auto total = static_cast<int64_t>(tensor.nbytes());
  for (int64_t offset = 0; offset < total; offset += kMaxElementsPerCall) {
    const auto count = static_cast<int>(std::min(kMaxElementsPerCall, total - offset));
    MPI_CHECK(MPI_Bcast(bytes + offset, count, MPI_BYTE, root, comm_));
  }
}

at::Tensor MpiCommunicator::allGather(const at::Tensor& tensor) {
  checkCpuContiguous(tensor, "allGather");
  std::vector<int64_t> shape{topology_.size};
  shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
  at::Tensor gathered = at::empty(shape, tensor.options());
  const int count = byteCount(tensor);
  MPI_CHECK(MPI_Allgather(tensor.data_ptr(), count, MPI_BYTE, gathered.data_ptr(), count, MPI_BYTE,
                          comm_));
  return gathered;
}

void MpiCommunicator::send(const at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "send");
  checkPeer(peer, topology_);
  MPI_CHECK(
      MPI_Send(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, kPointToPointTag, comm_));
}

void MpiCommunicator::recv(at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "recv");
  checkPeer(peer, topology_);
  MPI_Status status;
  MPI_CHECK(MPI_Recv(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, kPointToPointTag, comm_,
                     &status));
  int received = 0;
  MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &received));
  RINGTRAIN_CHECK(received == byteCount(tensor), "recv from rank " << peer << " got " << received
                                                                   << " bytes, expected "
                                                                   << byteCount(tensor));
}

std::unique_ptr<PendingTransfer> MpiCommunicator::startSendRecv(const at::Tensor& outgoing, int to,
                                                                at::Tensor& incoming, int from) {
  checkCpuContiguous(outgoing, "startSendRecv");
  checkCpuContiguous(incoming, "startSendRecv");
  checkPeer(to, topology_);
  checkPeer(from, topology_);
  auto transfer = std::make_unique<MpiTransfer>(from, byteCount(incoming));
  MPI_CHECK(MPI_Irecv(incoming.data_ptr(), byteCount(incoming), MPI_BYTE, from, kPointToPointTag,
                      comm_, &transfer->requests()[0]));
  MPI_CHECK(MPI_Isend(outgoing.data_ptr(), byteCount(outgoing), MPI_BYTE, to, kPointToPointTag,
                      comm_, &transfer->requests()[1]));
  return transfer;
}

std::unique_ptr<PendingTransfer> MpiCommunicator::startSend(const at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "startSend");
  checkPeer(peer, topology_);
  auto transfer = std::make_unique<MpiTransfer>();
  MPI_CHECK(MPI_Isend(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, kPointToPointTag, comm_,
                      &transfer->requests()[1]));
  return transfer;
}

std::unique_ptr<PendingTransfer> MpiCommunicator::startRecv(at::Tensor& tensor, int peer) {
  checkCpuContiguous(tensor, "startRecv");
  checkPeer(peer, topology_);
  auto transfer = std::make_unique<MpiTransfer>(peer, byteCount(tensor));
  MPI_CHECK(MPI_Irecv(tensor.data_ptr(), byteCount(tensor), MPI_BYTE, peer, kPointToPointTag, comm_,
                      &transfer->requests()[0]));
  return transfer;
}

void MpiCommunicator::barrier() {
  MPI_CHECK(MPI_Barrier(comm_));
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  MPI_Comm part = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(comm_, color, key, &part));
  return std::make_unique<MpiCommunicator>(part, topology_.host);
}

}  // namespace ringtrain::comm

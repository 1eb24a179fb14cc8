// NCCL backend for CUDA tensors. Work is enqueued on the tensor device's current CUDA stream, so it
// is ordered after the kernels that produced the data without a host synchronisation. The NCCL
// unique id travels over MPI, which the Session has already started.
#include "NcclCommunicator.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include "MpiCheck.h"

#define NCCL_CHECK(call)                                                                \
  do {                                                                                  \
    ncclResult_t nccl_check_result_ = (call);                                           \
    RINGTRAIN_CHECK(nccl_check_result_ == ncclSuccess,                                  \
                    #call " failed: " << ncclGetErrorString(nccl_check_result_) << " (" \
                                      << ncclGetLastError(nullptr) << ")");             \
  } while (false)

namespace ringtrain::comm {
namespace {

ncclDataType_t ncclType(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kLong:
      return ncclInt64;
    case at::kInt:
      return ncclInt32;
    case at::kByte:
      return ncclUint8;
    case at::kChar:
      return ncclInt8;
    default:
      RINGTRAIN_CHECK(false, "the NCCL backend cannot handle tensors of type " << type);
  }
}

ncclRedOp_t ncclOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kAvg:
      return ncclAvg;
    case ReduceOp::kMin:
      return ncclMin;
    case ReduceOp::kMax:
      return ncclMax;
  }
  RINGTRAIN_CHECK(false, "unknown ReduceOp");
}

class EnqueuedTransfer final : public PendingTransfer {
 public:
  void wait() override {}
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Topology topology, int device, std::shared_ptr<Watchdog> watchdog)
      : topology_(std::move(topology)), device_(device), watchdog_(std::move(watchdog)) {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    ncclUniqueId id;
    if (topology_.rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_CHECK(MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD));
    NCCL_CHECK(ncclCommInitRank(&comm_, topology_.size, id, topology_.rank));
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }

  const Topology& topology() const override { return topology_; }
  std::string backendName() const override { return "nccl"; }
  bool reducesOnHost() const override { return false; }

  void allReduce(at::Tensor& tensor, ReduceOp op) override {
    checkOnDevice(tensor);
    NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                             ncclType(tensor.scalar_type()), ncclOp(op), comm_, stream()));
    watchQueued("allreduce", tensor.nbytes());
  }

  void broadcast(at::Tensor& tensor, int root) override {
    checkOnDevice(tensor);
    NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                             ncclType(tensor.scalar_type()), root, comm_, stream()));
    watchQueued("broadcast", tensor.nbytes());
  }

  at::Tensor allGather(const at::Tensor& tensor) override {
    checkOnDevice(tensor);
    std::vector<int64_t> shape{topology_.size};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    at::Tensor gathered = at::empty(shape, tensor.options());
    NCCL_CHECK(ncclAllGather(tensor.data_ptr(), gathered.data_ptr(), tensor.numel(),
                             ncclType(tensor.scalar_type()), comm_, stream()));
    watchQueued("allgather", gathered.nbytes());
    return gathered;
  }

  void send(const at::Tensor& tensor, int peer) override {
    checkOnDevice(tensor);
    NCCL_CHECK(ncclSend(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_, stream()));
    watchQueued("send", tensor.nbytes());
  }

  void recv(at::Tensor& tensor, int peer) override {
    checkOnDevice(tensor);
    NCCL_CHECK(ncclRecv(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_, stream()));
    watchQueued("receive", tensor.nbytes());
  }

  // The exchange is enqueued on the current stream as one NCCL group, so the returned transfer has
  // nothing left to wait for on the host.
  std::unique_ptr<PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                 at::Tensor& incoming, int from) override {
    checkOnDevice(outgoing);
    checkOnDevice(incoming);
    NCCL_CHECK(ncclGroupStart());
    NCCL_CHECK(ncclSend(outgoing.data_ptr(), outgoing.nbytes(), ncclUint8, to, comm_, stream()));
    NCCL_CHECK(ncclRecv(incoming.data_ptr(), incoming.nbytes(), ncclUint8, from, comm_, stream()));
    NCCL_CHECK(ncclGroupEnd());
    watchQueued("point-to-point exchange", outgoing.nbytes() + incoming.nbytes());
    return std::make_unique<EnqueuedTransfer>();
  }

  void synchronize() override {
    RINGTRAIN_CHECK(cudaStreamSynchronize(stream()) == cudaSuccess, "stream synchronisation");
  }

  void barrier() override {
    at::Tensor token = at::zeros({1}, at::TensorOptions().device(at::kCUDA, device_));
    allReduce(token, ReduceOp::kSum);
    synchronize();
  }

 private:
  cudaStream_t stream() const {
    return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
  }
  // The host does not wait for NCCL; whatever later waits for the stream (a loss read back, an
  // optimizer step) would wait forever for a peer that never joins. The watchdog instead polls an
  // event recorded behind the work.
  void watchQueued(const char* operation, size_t bytes) {
    if (!watchdog_->armed()) return;
    cudaEvent_t event = nullptr;
    RINGTRAIN_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming) == cudaSuccess,
                    "cudaEventCreate failed");
    const std::shared_ptr<CUevent_st> owned(event, [](cudaEvent_t e) { cudaEventDestroy(e); });
    RINGTRAIN_CHECK(cudaEventRecord(event, stream()) == cudaSuccess, "cudaEventRecord failed");
    watchdog_->watchUntil(operation, static_cast<int64_t>(bytes), [owned, device = device_] {
      cudaSetDevice(device);
      return cudaEventQuery(owned.get()) != cudaErrorNotReady;
    });
  }
  void checkOnDevice(const at::Tensor& tensor) const {
    RINGTRAIN_CHECK(tensor.defined() && tensor.is_cuda() && tensor.get_device() == device_ &&
                        tensor.is_contiguous(),
                    "NCCL collectives need contiguous tensors on cuda:" << device_);
  }

  Topology topology_;
  int device_;
  std::shared_ptr<Watchdog> watchdog_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> makeNcclCommunicator(const Topology& topology, int device,
                                                   std::shared_ptr<Watchdog> watchdog) {
  return std::make_unique<NcclCommunicator>(topology, device, std::move(watchdog));
}

std::string ncclVersionString() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "unknown";
  return std::to_string(version / 10000) + "." + std::to_string(version % 10000 / 100) + "." +
         std::to_string(version % 100);
}

bool ncclAvailable() {
  return true;
}

}  // namespace ringtrain::comm

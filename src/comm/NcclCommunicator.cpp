// NCCL backend for CUDA tensors. Collectives run on a communication stream (one per device, for
// every communicator on it, kept for the life of the process): each one waits (through a CUDA
// event) for the work the caller's current stream has queued, so it sees the data the preceding
// kernels produced, and the caller's stream waits for the collective only when it needs the result.
// That lets the reducer's buckets be reduced while backward goes on. The NCCL unique id travels
// over MPI, which the Session has already started.
#include "NcclCommunicator.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include "comm/Mpi.h"

#include <functional>
#include <initializer_list>
#include <optional>

#include "EndedOnce.h"
#include "MpiCheck.h"
#include "MpiTopology.h"
#include "PerDevice.h"

#define NCCL_CHECK(call, comm)                                                          \
  do {                                                                                  \
    ncclResult_t nccl_check_result_ = (call);                                           \
    RINGTRAIN_CHECK(nccl_check_result_ == ncclSuccess,                                  \
                    #call " failed: " << ncclGetErrorString(nccl_check_result_) << " (" \
                                      << ncclGetLastError(comm) << ")");                \
  } while (false)

#define CUDA_CHECK(call)                                                          \
  do {                                                                            \
    cudaError_t cuda_check_result_ = (call);                                      \
    RINGTRAIN_CHECK(cuda_check_result_ == cudaSuccess,                            \
                    #call " failed: " << cudaGetErrorString(cuda_check_result_)); \
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

using Event = std::shared_ptr<CUevent_st>;

// One stream per device for every communicator on it: NCCL requires the operations of
// communicators that share a device to be ordered, or they can deadlock. It lives as long as the
// process (PerDevice.h says why), high priority so that reductions overlapping the backward pass
// are not starved by its kernels.
cudaStream_t communicationStream(int device) {
  static auto* const streams = new PerDevice<cudaStream_t>([](int id) {  // never destroyed
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(id));
    int lowest = 0;
    int highest = 0;
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lowest, &highest));
    cudaStream_t stream = nullptr;
    CUDA_CHECK(cudaStreamCreateWithPriority(&stream, cudaStreamNonBlocking, highest));
    return stream;
  });
  return streams->of(device);
}

// Closes an NCCL group on every path, so that an error between start and end cannot leave this
// thread's later calls grouped.
class NcclGroup {
 public:
  NcclGroup() {
    const ncclResult_t started = ncclGroupStart();
    RINGTRAIN_CHECK(started == ncclSuccess,
                    "ncclGroupStart failed: " << ncclGetErrorString(started));
  }
  ~NcclGroup() noexcept(false) {
    const ncclResult_t ended = ncclGroupEnd();
    if (std::uncaught_exceptions() == 0) {
      RINGTRAIN_CHECK(ended == ncclSuccess, "ncclGroupEnd failed: " << ncclGetErrorString(ended));
    }
  }
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;
};

Event newEvent() {
  cudaEvent_t event = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return Event(event, [](cudaEvent_t e) { cudaEventDestroy(e); });
}

cudaStream_t currentStream(int device) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

std::optional<std::string> asyncError(ncclComm_t comm) {
  ncclResult_t state = ncclSuccess;
  if (ncclCommGetAsyncError(comm, &state) != ncclSuccess) return std::nullopt;
  if (state == ncclSuccess || state == ncclInProgress) return std::nullopt;
  return std::string("NCCL reported an asynchronous error: ") + ncclGetErrorString(state) + " (" +
         ncclGetLastError(comm) + "); the communicator was aborted";
}

// Ended exactly once, by whichever comes first: the watchdog's abort (on its own thread) or the
// owner's destructor. Aborted, the communicator must not be used again.
using CommHandle = EndedOnce<ncclComm_t>;

// The NCCL failure to report, if any: checked under the handle's lock, so that an abort on the
// watchdog's thread cannot free the communicator while it is read.
std::optional<std::string> asyncFailure(CommHandle& handle) {
  return handle.ifLive(asyncError).value_or(std::nullopt);
}

void checkUsable(CommHandle& handle) {
  RINGTRAIN_CHECK(!handle.ended(),
                  "the NCCL communicator has ended (aborted after a failure, or destroyed)");
  const auto error = asyncFailure(handle);
  RINGTRAIN_CHECK(!error, *error);
}

// The communicator itself, for calls that queue work. Not under the lock: a call can wait for a
// peer (connections are made on first use), and the watchdog's abort is what ends that wait. So an
// abort can still free the communicator under a call in progress; it comes only after the
// communication timeout, and the process ends within seconds of it. (Non-blocking communicators,
// whose calls all return at once, would close that window too.)
ncclComm_t liveComm(CommHandle& handle) {
  const std::optional<ncclComm_t> comm = handle.ifLive([](ncclComm_t c) { return c; });
  RINGTRAIN_CHECK(comm, "the NCCL communicator has ended (aborted after a failure, or destroyed)");
  return *comm;
}

// Queued collective work: waiting makes the stream current at that time wait for it.
class NcclWork final : public PendingTransfer {
 public:
  NcclWork(Event done, int device, std::shared_ptr<CommHandle> handle)
      : done_(std::move(done)), device_(device), handle_(std::move(handle)) {}
  ~NcclWork() override {
    if (!done_) return;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream().stream(), done_.get(), 0);
  }
  void wait() override {
    if (!done_) return;
    checkUsable(*handle_);
    CUDA_CHECK(cudaStreamWaitEvent(currentStream(device_), done_.get(), 0));
    done_.reset();
  }

 private:
  Event done_;
  int device_;
  std::shared_ptr<CommHandle> handle_;
};

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `mpi`, which this takes ownership of and whose ranks `topology` describes;
  // `parent` (when given) is split with `color` and `key` instead of starting a new clique.
  NcclCommunicator(MPI_Comm mpi, Topology topology, int device, std::shared_ptr<Watchdog> watchdog,
                   const NcclCommunicator* parent = nullptr, int color = 0, int key = 0)
      : topology_(std::move(topology)),
        device_(device),
        watchdog_(std::move(watchdog)),
        mpi_(mpi),
        stream_(communicationStream(device)) {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    ncclComm_t comm = nullptr;
    if (parent != nullptr) {
      const ncclComm_t whole = liveComm(*parent->handle_);
      NCCL_CHECK(ncclCommSplit(whole, color, key, &comm, nullptr), whole);
    } else {
      // Rank 0's outcome travels with the id, so that a failure there cannot leave the others
      // waiting for an id that never comes.
      struct {
        ncclUniqueId id;
        int ok;
      } offer{};
      if (topology_.rank == 0) offer.ok = ncclGetUniqueId(&offer.id) == ncclSuccess;
      MPI_CHECK(MPI_Bcast(&offer, sizeof(offer), MPI_BYTE, 0, mpi_));
      RINGTRAIN_CHECK(offer.ok, "ncclGetUniqueId failed on rank 0 (run with NCCL_DEBUG=INFO)");
      NCCL_CHECK(ncclCommInitRank(&comm, topology_.size, offer.id, topology_.rank), nullptr);
    }
    handle_ = std::make_shared<CommHandle>(comm);
    // A peer that died leaves NCCL kernels spinning; aborting the communicator ends them, so the
    // process can exit when the watchdog gives up, or as soon as NCCL reports the failure.
    const std::shared_ptr<CommHandle> handle = handle_;
    abortKey_ = watchdog_->addAbortAction([handle] { handle->end(ncclCommAbort); });
    probeKey_ = watchdog_->addFailureProbe([handle] { return asyncFailure(*handle); });
  }
  ~NcclCommunicator() override {
    watchdog_->remove(abortKey_);
    watchdog_->remove(probeKey_);
    handle_->end(ncclCommDestroy);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&mpi_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  const Topology& topology() const override { return topology_; }
  std::string backendName() const override { return "nccl"; }
  bool reducesOnHost() const override { return false; }

  void allReduce(at::Tensor& tensor, ReduceOp op) override { startAllReduce(tensor, op)->wait(); }

  std::unique_ptr<PendingTransfer> startAllReduce(at::Tensor& tensor, ReduceOp op) override {
    checkOnDevice(tensor);
    return enqueue("allreduce", tensor.nbytes(), {tensor}, [&](ncclComm_t comm, cudaStream_t s) {
      NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                               ncclType(tensor.scalar_type()), ncclOp(op), comm, s),
                 comm);
    });
  }

  at::Tensor reduceScatter(const at::Tensor& tensor, ReduceOp op) override {
    at::Tensor mine = at::empty({tensor.numel() / topology_.size}, tensor.options());
    startReduceScatter(tensor, mine, op)->wait();
    return mine;
  }

  std::unique_ptr<PendingTransfer> startReduceScatter(const at::Tensor& tensor, at::Tensor& output,
                                                      ReduceOp op) override {
    checkOnDevice(tensor);
    checkOnDevice(output);
    RINGTRAIN_CHECK(tensor.numel() % topology_.size == 0 &&
                        output.numel() == tensor.numel() / topology_.size &&
                        output.scalar_type() == tensor.scalar_type() && output.is_contiguous(),
                    "reduceScatter of " << tensor.numel() << " elements over " << topology_.size
                                        << " ranks into " << output.numel());
    return enqueue(
        "reduce-scatter", tensor.nbytes(), {tensor, output}, [&](ncclComm_t comm, cudaStream_t s) {
          NCCL_CHECK(ncclReduceScatter(tensor.data_ptr(), output.data_ptr(), output.numel(),
                                       ncclType(tensor.scalar_type()), ncclOp(op), comm, s),
                     comm);
        });
  }

  void broadcast(at::Tensor& tensor, int root) override {
    checkOnDevice(tensor);
    enqueue("broadcast", tensor.nbytes(), {tensor}, [&](ncclComm_t comm, cudaStream_t s) {
      NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                               ncclType(tensor.scalar_type()), root, comm, s),
                 comm);
    })->wait();
  }

  at::Tensor allGather(const at::Tensor& tensor) override {
    checkOnDevice(tensor);
    std::vector<int64_t> shape{topology_.size};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    at::Tensor gathered = at::empty(shape, tensor.options());
    enqueue("allgather", gathered.nbytes(), {tensor, gathered},
            [&](ncclComm_t comm, cudaStream_t s) {
              NCCL_CHECK(ncclAllGather(tensor.data_ptr(), gathered.data_ptr(), tensor.numel(),
                                       ncclType(tensor.scalar_type()), comm, s),
                         comm);
            })
        ->wait();
    return gathered;
  }

  void send(const at::Tensor& tensor, int peer) override {
    checkOnDevice(tensor);
    enqueue("send", tensor.nbytes(), {tensor}, [&](ncclComm_t comm, cudaStream_t s) {
      NCCL_CHECK(ncclSend(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm, s), comm);
    })->wait();
  }

  void recv(at::Tensor& tensor, int peer) override {
    checkOnDevice(tensor);
    enqueue("receive", tensor.nbytes(), {tensor}, [&](ncclComm_t comm, cudaStream_t s) {
      NCCL_CHECK(ncclRecv(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm, s), comm);
    })->wait();
  }

  // One NCCL group, so that the send and the receive cannot wait for each other.
  std::unique_ptr<PendingTransfer> startSendRecv(const at::Tensor& outgoing, int to,
                                                 at::Tensor& incoming, int from) override {
    checkOnDevice(outgoing);
    checkOnDevice(incoming);
    return enqueue(
        "point-to-point exchange", outgoing.nbytes() + incoming.nbytes(), {outgoing, incoming},
        [&](ncclComm_t comm, cudaStream_t s) {
          const NcclGroup group;
          NCCL_CHECK(ncclSend(outgoing.data_ptr(), outgoing.nbytes(), ncclUint8, to, comm, s),
                     comm);
          NCCL_CHECK(ncclRecv(incoming.data_ptr(), incoming.nbytes(), ncclUint8, from, comm, s),
                     comm);
        });
  }

  void synchronize() override {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    checkUsable(*handle_);
  }

  void barrier() override {
    at::Tensor token = at::zeros({1}, at::TensorOptions().device(at::kCUDA, device_));
    allReduce(token, ReduceOp::kSum);
    synchronize();
  }

  std::unique_ptr<Communicator> split(int color, int key) override {
    RINGTRAIN_CHECK(color >= 0, "split colors must not be negative, got " << color);
    checkUsable(*handle_);
    MPI_Comm part = MPI_COMM_NULL;
    MPI_CHECK(MPI_Comm_split(mpi_, color, key, &part));
    Topology topology;
    try {
      topology = topologyOf(part, topology_.host);
      return std::make_unique<NcclCommunicator>(part, topology, device_, watchdog_, this, color,
                                                key);
    } catch (...) {
      MPI_Comm_free(&part);
      throw;
    }
  }

 private:
  // Orders `work` on the communicator's stream after what the current stream has queued, and
  // returns the work, for the caller to wait on. `touched` are the tensors it reads or writes: the
  // caching allocator must not hand their memory out again before the stream is done with them.
  std::unique_ptr<PendingTransfer> enqueue(
      const char* operation, size_t bytes, std::initializer_list<at::Tensor> touched,
      const std::function<void(ncclComm_t, cudaStream_t)>& work) {
    checkUsable(*handle_);
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    const Event ready = newEvent();
    CUDA_CHECK(cudaEventRecord(ready.get(), currentStream(device_)));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, ready.get(), 0));
    const c10::cuda::CUDAStream commStream =
        c10::cuda::getStreamFromExternal(stream_, static_cast<c10::DeviceIndex>(device_));
    for (const at::Tensor& tensor : touched) {
      c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), commStream);
    }
    work(liveComm(*handle_), stream_);
    const Event done = newEvent();
    CUDA_CHECK(cudaEventRecord(done.get(), stream_));
    watchQueued(operation, bytes, done);
    return std::make_unique<NcclWork>(done, device_, handle_);
  }
  // The host does not wait for NCCL; whatever later waits for the stream (a loss read back, an
  // optimizer step) would wait forever for a peer that never joins. The watchdog instead polls the
  // event recorded behind the work.
  void watchQueued(const char* operation, size_t bytes, const Event& done) {
    if (!watchdog_->armed()) return;
    watchdog_->watchUntil(operation, static_cast<int64_t>(bytes), [done, device = device_] {
      cudaSetDevice(device);
      return cudaEventQuery(done.get()) != cudaErrorNotReady;
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
  MPI_Comm mpi_;         // the same ranks, for the unique id and for splitting
  cudaStream_t stream_;  // communicationStream(device_): outlives this and every tensor it touched
  std::shared_ptr<CommHandle> handle_;
  uint64_t abortKey_ = 0;
  uint64_t probeKey_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> makeNcclCommunicator(const Topology& topology, int device,
                                                   std::shared_ptr<Watchdog> watchdog) {
  MPI_Comm world = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &world));
  return std::make_unique<NcclCommunicator>(world, topology, device, std::move(watchdog));
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

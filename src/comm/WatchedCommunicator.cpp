#include "WatchedCommunicator.h"

namespace ringtrain::comm {
namespace {

int64_t bytesOf(const at::Tensor& tensor) {
  return static_cast<int64_t>(tensor.nbytes());
}

class WatchedTransfer final : public PendingTransfer {
 public:
  WatchedTransfer(std::unique_ptr<PendingTransfer> inner, std::shared_ptr<Watchdog> watchdog,
                  std::shared_ptr<CallLog> log, uint64_t call, const char* operation, int64_t bytes)
      : inner_(std::move(inner)),
        watchdog_(std::move(watchdog)),
        log_(std::move(log)),
        call_(call),
        operation_(operation),
        bytes_(bytes) {}
  ~WatchedTransfer() override {
    if (ended_) return;
    // Destroying an unfinished transfer waits for it.
    const auto watch = watchdog_->watch(operation_, bytes_);
    {
      const CallLog::Blocked blocked(*log_, call_);
      inner_.reset();
    }
    log_->end(call_);
  }
  void wait() override {
    const auto watch = watchdog_->watch(operation_, bytes_);
    {
      const CallLog::Blocked blocked(*log_, call_);
      inner_->wait();
    }
    if (!ended_) log_->end(call_);
    ended_ = true;
  }

 private:
  std::unique_ptr<PendingTransfer> inner_;
  std::shared_ptr<Watchdog> watchdog_;
  std::shared_ptr<CallLog> log_;
  uint64_t call_;
  bool ended_ = false;
  const char* operation_;
  int64_t bytes_;
};

}  // namespace

WatchedCommunicator::WatchedCommunicator(std::unique_ptr<Communicator> inner,
                                         std::shared_ptr<Watchdog> watchdog,
                                         std::shared_ptr<CallLog> log, int64_t id)
    : inner_(std::move(inner)), watchdog_(std::move(watchdog)), log_(std::move(log)), id_(id) {}

WatchedCommunicator::Call::Call(WatchedCommunicator& communicator, const char* operation,
                                int64_t bytes, bool collective)
    : watch_(communicator.watchdog_->watch(operation, bytes)),
      log_(*communicator.log_),
      token_(log_.start(communicator.id_, operation, bytes, collective)) {
  blocked_.emplace(log_, token_);
}

WatchedCommunicator::Call::~Call() {
  blocked_.reset();
  log_.end(token_);
}

void WatchedCommunicator::allReduce(at::Tensor& tensor, ReduceOp op) {
  const Call call(*this, "allreduce", bytesOf(tensor), /*collective=*/true);
  inner_->allReduce(tensor, op);
}

// Starting can block too (NCCL connects to a peer on the first exchange with it), and so can
// waiting: both run under the watchdog.
std::unique_ptr<PendingTransfer> WatchedCommunicator::watchedStart(
    const char* operation, int64_t bytes, bool collective,
    const std::function<std::unique_ptr<PendingTransfer>()>& start) {
  std::unique_ptr<PendingTransfer> started;
  const uint64_t call = log_->start(id_, operation, bytes, collective);
  try {
    const auto watch = watchdog_->watch(operation, bytes);
    const CallLog::Blocked blocked(*log_, call);
    started = start();
  } catch (...) {
    log_->end(call);
    throw;
  }
  return std::make_unique<WatchedTransfer>(std::move(started), watchdog_, log_, call, operation,
                                           bytes);
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startAllReduce(at::Tensor& tensor,
                                                                     ReduceOp op) {
  return watchedStart("allreduce", bytesOf(tensor), /*collective=*/true,
                      [&] { return inner_->startAllReduce(tensor, op); });
}

at::Tensor WatchedCommunicator::reduceScatter(const at::Tensor& tensor, ReduceOp op) {
  const Call call(*this, "reduce-scatter", bytesOf(tensor), /*collective=*/true);
  return inner_->reduceScatter(tensor, op);
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startReduceScatter(const at::Tensor& tensor,
                                                                         at::Tensor& output,
                                                                         ReduceOp op) {
  return watchedStart("reduce-scatter", bytesOf(tensor), /*collective=*/true,
                      [&] { return inner_->startReduceScatter(tensor, output, op); });
}

void WatchedCommunicator::broadcast(at::Tensor& tensor, int root) {
  const Call call(*this, "broadcast", bytesOf(tensor), /*collective=*/true);
  inner_->broadcast(tensor, root);
}

at::Tensor WatchedCommunicator::allGather(const at::Tensor& tensor) {
  const Call call(*this, "allgather", bytesOf(tensor), /*collective=*/true);
  return inner_->allGather(tensor);
}

void WatchedCommunicator::send(const at::Tensor& tensor, int peer) {
  const Call call(*this, "send", bytesOf(tensor), /*collective=*/false);
  inner_->send(tensor, peer);
}

void WatchedCommunicator::recv(at::Tensor& tensor, int peer) {
  const Call call(*this, "receive", bytesOf(tensor), /*collective=*/false);
  inner_->recv(tensor, peer);
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startSendRecv(const at::Tensor& outgoing,
                                                                    int to, at::Tensor& incoming,
                                                                    int from) {
  return watchedStart("point-to-point exchange", bytesOf(outgoing) + bytesOf(incoming),
                      /*collective=*/false,
                      [&] { return inner_->startSendRecv(outgoing, to, incoming, from); });
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startSend(const at::Tensor& tensor,
                                                                int peer) {
  return watchedStart("send", bytesOf(tensor), /*collective=*/false,
                      [&] { return inner_->startSend(tensor, peer); });
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startRecv(at::Tensor& tensor, int peer) {
  return watchedStart("receive", bytesOf(tensor), /*collective=*/false,
                      [&] { return inner_->startRecv(tensor, peer); });
}

void WatchedCommunicator::barrier() {
  const Call call(*this, "barrier", 0, /*collective=*/true);
  inner_->barrier();
}

std::unique_ptr<Communicator> WatchedCommunicator::split(int color, int key) {
  const Call call(*this, "communicator split", 0, /*collective=*/true);
  return std::make_unique<WatchedCommunicator>(inner_->split(color, key), watchdog_, log_,
                                               log_->splitCommunicator(id_, color));
}

void WatchedCommunicator::synchronize() {
  const Call call(*this, "wait for queued communication", 0, /*collective=*/false);
  inner_->synchronize();
}

}  // namespace ringtrain::comm

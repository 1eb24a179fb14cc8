#include "WatchedCommunicator.h"

namespace ringtrain::comm {
namespace {

int64_t bytesOf(const at::Tensor& tensor) {
  return static_cast<int64_t>(tensor.nbytes());
}

class WatchedTransfer final : public PendingTransfer {
 public:
  WatchedTransfer(std::unique_ptr<PendingTransfer> inner, std::shared_ptr<Watchdog> watchdog,
                  int64_t bytes)
      : inner_(std::move(inner)), watchdog_(std::move(watchdog)), bytes_(bytes) {}
  ~WatchedTransfer() override {
    // Destroying an unfinished transfer waits for it.
    const auto watch = watchdog_->watch("point-to-point exchange", bytes_);
    inner_.reset();
  }
  void wait() override {
    const auto watch = watchdog_->watch("point-to-point exchange", bytes_);
    inner_->wait();
  }

 private:
  std::unique_ptr<PendingTransfer> inner_;
  std::shared_ptr<Watchdog> watchdog_;
  int64_t bytes_;
};

}  // namespace

WatchedCommunicator::WatchedCommunicator(std::unique_ptr<Communicator> inner,
                                         std::shared_ptr<Watchdog> watchdog)
    : inner_(std::move(inner)), watchdog_(std::move(watchdog)) {}

void WatchedCommunicator::allReduce(at::Tensor& tensor, ReduceOp op) {
  const auto watch = watchdog_->watch("allreduce", bytesOf(tensor));
  inner_->allReduce(tensor, op);
}

void WatchedCommunicator::broadcast(at::Tensor& tensor, int root) {
  const auto watch = watchdog_->watch("broadcast", bytesOf(tensor));
  inner_->broadcast(tensor, root);
}

at::Tensor WatchedCommunicator::allGather(const at::Tensor& tensor) {
  const auto watch = watchdog_->watch("allgather", bytesOf(tensor));
  return inner_->allGather(tensor);
}

void WatchedCommunicator::send(const at::Tensor& tensor, int peer) {
  const auto watch = watchdog_->watch("send", bytesOf(tensor));
  inner_->send(tensor, peer);
}

void WatchedCommunicator::recv(at::Tensor& tensor, int peer) {
  const auto watch = watchdog_->watch("receive", bytesOf(tensor));
  inner_->recv(tensor, peer);
}

std::unique_ptr<PendingTransfer> WatchedCommunicator::startSendRecv(const at::Tensor& outgoing,
                                                                    int to, at::Tensor& incoming,
                                                                    int from) {
  return std::make_unique<WatchedTransfer>(inner_->startSendRecv(outgoing, to, incoming, from),
                                           watchdog_, bytesOf(outgoing) + bytesOf(incoming));
}

void WatchedCommunicator::barrier() {
  const auto watch = watchdog_->watch("barrier", 0);
  inner_->barrier();
}

void WatchedCommunicator::synchronize() {
  const auto watch = watchdog_->watch("wait for queued communication", 0);
  inner_->synchronize();
}

}  // namespace ringtrain::comm

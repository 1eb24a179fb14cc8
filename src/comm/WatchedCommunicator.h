// A Communicator that runs every blocking call of another one under the session's watchdog, so a
// call that never returns ends the job after the timeout instead of hanging it, and keeps every
// call in the session's call log (CallLog.h).
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "comm/CallLog.h"
#include "comm/Watchdog.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::comm {

class WatchedCommunicator final : public Communicator {
 public:
  // `id`: its number in the call log (CallLog::newCommunicator).
  WatchedCommunicator(std::unique_ptr<Communicator> inner, std::shared_ptr<Watchdog> watchdog,
                      std::shared_ptr<CallLog> log, int64_t id);

  const Topology& topology() const override { return inner_->topology(); }
  std::string backendName() const override { return inner_->backendName(); }
  bool reducesOnHost() const override { return inner_->reducesOnHost(); }
  void allReduce(at::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<PendingTransfer> startAllReduce(at::Tensor& tensor, ReduceOp op) override;
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
  bool asynchronousPointToPoint() const override { return inner_->asynchronousPointToPoint(); }
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;
  void synchronize() override;

 private:
  std::unique_ptr<PendingTransfer> watchedStart(
      const char* operation, int64_t bytes, bool collective,
      const std::function<std::unique_ptr<PendingTransfer>()>& start);

  // A blocking call: watched and logged while it lives.
  class Call {
   public:
    Call(WatchedCommunicator& communicator, const char* operation, int64_t bytes, bool collective);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    Watchdog::Watch watch_;
    CallLog& log_;
    uint64_t token_;
    std::optional<CallLog::Blocked> blocked_;  // ends before the call does
  };

  std::unique_ptr<Communicator> inner_;
  std::shared_ptr<Watchdog> watchdog_;
  std::shared_ptr<CallLog> log_;
  int64_t id_;  // in the call log
};

}  // namespace ringtrain::comm

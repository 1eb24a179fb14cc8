#include "HostStagedCommunicator.h"

#include <ATen/ATen.h>

namespace ringtrain::comm {
namespace {

at::Tensor onHost(const at::Tensor& tensor) {
  return tensor.to(at::kCPU).contiguous();
}

}  // namespace

HostStagedCommunicator::HostStagedCommunicator(std::unique_ptr<Communicator> host,
                                               c10::Device device)
    : host_(std::move(host)), device_(device) {}

void HostStagedCommunicator::allReduce(at::Tensor& tensor, ReduceOp op) {
  at::Tensor staged = onHost(tensor);
  host_->allReduce(staged, op);
  tensor.copy_(staged);
}

at::Tensor HostStagedCommunicator::reduceScatter(const at::Tensor& tensor, ReduceOp op) {
  return host_->reduceScatter(onHost(tensor), op).to(tensor.device());
}

void HostStagedCommunicator::broadcast(at::Tensor& tensor, int root) {
  at::Tensor staged = onHost(tensor);
  host_->broadcast(staged, root);
  tensor.copy_(staged);
}

at::Tensor HostStagedCommunicator::allGather(const at::Tensor& tensor) {
  return host_->allGather(onHost(tensor)).to(tensor.device());
}

void HostStagedCommunicator::send(const at::Tensor& tensor, int peer) {
  host_->send(onHost(tensor), peer);
}

void HostStagedCommunicator::recv(at::Tensor& tensor, int peer) {
  at::Tensor staged = at::empty(tensor.sizes(), tensor.options().device(at::kCPU));
  host_->recv(staged, peer);
  tensor.copy_(staged);
}

// Completed before it returns: the copy back needs the data, and the host buffers are local.
std::unique_ptr<PendingTransfer> HostStagedCommunicator::startSendRecv(const at::Tensor& outgoing,
                                                                       int to, at::Tensor& incoming,
                                                                       int from) {
  const at::Tensor stagedOut = onHost(outgoing);
  at::Tensor stagedIn = at::empty(incoming.sizes(), incoming.options().device(at::kCPU));
  host_->startSendRecv(stagedOut, to, stagedIn, from)->wait();
  incoming.copy_(stagedIn);
  return std::make_unique<CompletedTransfer>();
}

std::unique_ptr<Communicator> HostStagedCommunicator::split(int color, int key) {
  return std::make_unique<HostStagedCommunicator>(host_->split(color, key), device_);
}

}  // namespace ringtrain::comm

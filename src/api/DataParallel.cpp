#include "ringtrain/DataParallel.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "RuntimeInternals.h"
#include "ddp/ParameterSync.h"
#include "ddp/Reducer.h"
#include "platform/Placement.h"

namespace ringtrain {
namespace {

ddp::NamedParameters parametersOf(torch::nn::Module& module) {
  ddp::NamedParameters named;
  for (const auto& item : module.named_parameters()) named.emplace_back(item.key(), item.value());
  return named;
}

ddp::NamedParameters floatingBuffersOf(torch::nn::Module& module) {
  ddp::NamedParameters named;
  for (const auto& item : module.named_buffers()) {
    if (item.value().is_floating_point()) named.emplace_back(item.key(), item.value());
  }
  return named;
}

}  // namespace

DataParallel::DataParallel(Runtime& runtime, torch::nn::Module& module, ddp::ReducerOptions options)
    : runtime_(runtime), module_(module) {
  const ddp::NamedParameters parameters = parametersOf(module);
  ddp::verifySameParameters(runtime.controlCommunicator(), parameters);
  ddp::broadcastParameters(runtime.deviceCommunicator(), parameters);
  ddp::broadcastParameters(runtime.deviceCommunicator(), floatingBuffersOf(module));
  const platform::Placement& placement = RuntimeInternals::placement(runtime);
  options.overlap = (placement.device.is_cuda() || placement.communicationThread) &&
                    ddp::overlapPays(options.overlapMode, placement.device.is_cuda(),
                                     placement.spareCoresPerRank);
  reducer_ = std::make_unique<ddp::Reducer>(runtime.deviceCommunicator(), parameters, options);
}

DataParallel::~DataParallel() = default;

void DataParallel::zeroGrad() {
  reducer_->zeroGradients();
}

void DataParallel::prepareForBackward(bool synchronize) {
  reducer_->prepareForBackward(synchronize);
}

std::vector<double> DataParallel::finishBackward(const std::vector<double>& values) {
  const at::Tensor scalars =
      at::tensor(values, at::kDouble).to(runtime_.device(), at::kFloat).reshape({-1});
  const at::Tensor mean = reducer_->finishBackward(scalars).to(at::kCPU, at::kDouble);
  return {mean.const_data_ptr<double>(), mean.const_data_ptr<double>() + mean.numel()};
}

void DataParallel::averageBuffers() {
  if (runtime_.worldSize() == 1) return;
  c10::NoGradGuard noGrad;
  for (auto& [name, buffer] : floatingBuffersOf(module_)) {
    runtime_.deviceCommunicator().allReduce(buffer, comm::ReduceOp::kSum);
    buffer.div_(static_cast<double>(runtime_.worldSize()));
  }
}

const std::vector<ddp::BucketSpec>& DataParallel::buckets() const {
  return reducer_->buckets();
}
const ddp::ReducerStats& DataParallel::stats() const {
  return reducer_->stats();
}

}  // namespace ringtrain

#include "ringtrain/DataParallel.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "RuntimeInternals.h"
#include "ddp/ParameterSync.h"
#include "ddp/Reducer.h"
#include "platform/Placement.h"
#include "ringtrain/util/Error.h"
#include "train/NonFinite.h"
#include "train/ShardedNorm.h"
#include "train/ShardedOptimizer.h"

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

DataParallel::DataParallel(Runtime& runtime, torch::nn::Module& module, ddp::ReducerOptions options,
                           int zeroStage)
    : runtime_(runtime), module_(module) {
  RINGTRAIN_USER_CHECK(zeroStage >= 0 && zeroStage <= 2,
                       "DataParallel: zeroStage must be 0, 1 or 2, got " << zeroStage);
  const ddp::NamedParameters parameters = parametersOf(module);
  ddp::verifySameParameters(runtime.controlCommunicator(), parameters);
  ddp::broadcastParameters(runtime.deviceCommunicator(), parameters);
  ddp::broadcastParameters(runtime.deviceCommunicator(), floatingBuffersOf(module));
  const platform::Placement& placement = RuntimeInternals::placement(runtime);
  options.overlap = (placement.device.is_cuda() || placement.communicationThread) &&
                    ddp::overlapPays(options.overlapMode, placement.device.is_cuda(),
                                     placement.spareCoresPerRank);
  const bool sharding = zeroStage > 0 && runtime.worldSize() > 1;
  reducer_ = std::make_unique<ddp::Reducer>(
      runtime.deviceCommunicator(), parameters, options,
      sharding ? train::gradientShardingOf(zeroStage) : ddp::GradientSharding::kNone);
  if (sharding) {
    zeroStage_ = zeroStage;
    sharded_ = std::make_unique<train::ShardedOptimizer>(
        zeroStage, options, *reducer_, runtime.deviceCommunicator(), runtime.controlCommunicator());
  }
}

DataParallel::~DataParallel() = default;

void DataParallel::zeroGrad() {
  reducer_->zeroGradients();
  if (sharded_) sharded_->dropGradients();
}

void DataParallel::prepareForBackward(bool synchronize) {
  reducer_->prepareForBackward(synchronize);
}

std::vector<double> DataParallel::finishBackward(const std::vector<double>& values) {
  const at::Tensor scalars =
      at::tensor(values, at::kDouble).to(runtime_.device(), at::kFloat).reshape({-1});
  const at::Tensor mean = reducer_->finishBackward(scalars).to(at::kCPU, at::kDouble);
  if (sharded_) sharded_->attachOwnedGradients();
  return {mean.const_data_ptr<double>(), mean.const_data_ptr<double>() + mean.numel()};
}

double DataParallel::clipGradNorm(double maxNorm) {
  RINGTRAIN_USER_CHECK(maxNorm > 0,
                       "DataParallel::clipGradNorm: maxNorm must be positive, got " << maxNorm);
  std::vector<at::Tensor> gradients;
  for (const at::Tensor& parameter : optimizerParameters()) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  // Every rank holds the same averaged gradients without sharding: its own norm is the norm.
  const double norm =
      sharded_ ? sharded_->groupNorm(gradients) : std::sqrt(train::sumOfSquares(gradients));
  train::clipToNorm(gradients, norm, maxNorm);
  return norm;
}

void DataParallel::finishStep() {
  if (sharded_) sharded_->gatherParameters();
}

std::vector<at::Tensor> DataParallel::optimizerParameters() const {
  if (sharded_) return sharded_->pieces();
  std::vector<at::Tensor> parameters;
  for (const auto& [name, parameter] : reducer_->parameters()) parameters.push_back(parameter);
  return parameters;
}

int DataParallel::zeroStage() const {
  return zeroStage_;
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

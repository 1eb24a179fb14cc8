#include "StepStrategy.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

#include "platform/Resources.h"
#include "train/Optimizer.h"
#include "train/ShardedOptimizerState.h"

namespace ringtrain::train {
namespace {

constexpr double kMib = 1024.0 * 1024.0;

}  // namespace

void StepStrategy::averageBuffers(int64_t step) {
  if (buffersAveragedAt_ == step) return;
  buffersAveragedAt_ = step;
  comm::Communicator& group = replicas();
  if (group.size() == 1 || buffers_.empty()) return;
  c10::NoGradGuard noGrad;
  for (auto& [name, buffer] : buffers_) {
    group.allReduce(buffer, comm::ReduceOp::kSum);
    buffer.div_(static_cast<double>(group.size()));
  }
}

void StepStrategy::update(double lr) {
  setLearningRate(*optimizer_, lr);
  optimizer_->step();
}

void StepStrategy::trainThese(ddp::NamedParameters parameters, ddp::NamedParameters buffers,
                              double baseLr, ddp::GradientSharding sharding) {
  baseLr_ = baseLr;
  parameters_ = std::move(parameters);
  buffers_ = std::move(buffers);
  // Counters (BatchNorm's num_batches_tracked) agree anyway.
  buffers_.erase(
      std::remove_if(buffers_.begin(), buffers_.end(),
                     [](const auto& buffer) { return !buffer.second.is_floating_point(); }),
      buffers_.end());
  for (const auto& [name, tensor] : parameters_) parameterTensors_.push_back(tensor);
  if (sharding == ddp::GradientSharding::kNone) {
    optimizer_ = makeOptimizer(context_.config, parameterTensors_, baseLr_);
  }
  reducer_ = std::make_unique<ddp::Reducer>(replicas(), parameters_, context_.reducer, sharding);
}

nlohmann::ordered_json StepStrategy::report(comm::Communicator& control) const {
  const auto bytesOf = [](const at::Tensor& tensor) {
    return tensor.defined() ? static_cast<double>(tensor.nbytes()) : 0.0;
  };
  double parameterBytes = 0;
  for (const auto& [name, parameter] : parameters_) parameterBytes += bytesOf(parameter);
  double optimizerBytes = 0;
  for (const auto& [key, state] : optimizer_->state()) {
    for (const at::Tensor& tensor : stateTensors(*state)) optimizerBytes += bytesOf(tensor);
  }
  const at::Tensor mine =
      at::tensor({parameterBytes, static_cast<double>(reducer_->gradientBytes()),
                  static_cast<double>(reducer_->peakGradientBytes()), optimizerBytes,
                  platform::peakResidentBytes() / kMib},
                 at::kDouble);
  const at::Tensor byRank = control.allGather(mine).view({control.size(), -1});
  const at::Tensor most = std::get<0>(byRank.max(0));
  const auto figure = [&](int64_t i) { return static_cast<int64_t>(most[i].item<double>()); };
  nlohmann::ordered_json memory{{"parameter_bytes", figure(0)},
                                {"gradient_bytes", figure(1)},
                                {"gradient_peak_bytes", figure(2)},
                                {"optimizer_state_bytes", figure(3)},
                                {"peak_rss_mib_by_rank", nlohmann::ordered_json::array()}};
  for (int64_t rank = 0; rank < control.size(); ++rank) {
    memory["peak_rss_mib_by_rank"].push_back(byRank[rank][4].item<double>());
  }
  return {{"memory", std::move(memory)}, {"pipeline", pipelineReport(control)}};
}

ddp::NamedParameters namedParameters(torch::nn::Module& model) {
  ddp::NamedParameters parameters;
  for (const auto& item : model.named_parameters())
    parameters.emplace_back(item.key(), item.value());
  return parameters;
}

ddp::NamedParameters namedBuffers(torch::nn::Module& model) {
  ddp::NamedParameters buffers;
  for (const auto& item : model.named_buffers()) buffers.emplace_back(item.key(), item.value());
  return buffers;
}

std::unique_ptr<torch::optim::Optimizer> StepStrategy::wholeModelOptimizer() const {
  return makeOptimizer(context_.config, model_.parameters(), baseLr_);
}

std::unique_ptr<StepStrategy> makeStepStrategy(const StepContext& context,
                                               models::Classifier& model,
                                               const std::vector<int64_t>& sampleShape,
                                               double baseLr) {
  if (context.config.pipeline.stages > 1) {
    return makePipelineStep(context, model, sampleShape, baseLr);
  }
  // One rank has nothing to share its optimizer state with. (A pipeline's stages shard among
  // their replicas, in PipelineStep.)
  if (context.config.zeroStage > 0 && context.data.size() > 1) {
    return makeShardedStep(context, model, baseLr);
  }
  return makeDataParallelStep(context, model, baseLr);
}

}  // namespace ringtrain::train

#include "StepStrategy.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>

#include "train/Optimizer.h"

namespace ringtrain::train {

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

void StepStrategy::trainThese(ddp::NamedParameters parameters, ddp::NamedParameters buffers,
                              double baseLr) {
  baseLr_ = baseLr;
  parameters_ = std::move(parameters);
  buffers_ = std::move(buffers);
  // Counters (BatchNorm's num_batches_tracked) agree anyway.
  buffers_.erase(
      std::remove_if(buffers_.begin(), buffers_.end(),
                     [](const auto& buffer) { return !buffer.second.is_floating_point(); }),
      buffers_.end());
  for (const auto& [name, tensor] : parameters_) parameterTensors_.push_back(tensor);
  optimizer_ = makeOptimizer(context_.config, parameterTensors_, baseLr_);
  reducer_ = std::make_unique<ddp::Reducer>(replicas(), parameters_, context_.reducer);
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
  return makeDataParallelStep(context, model, baseLr);
}

}  // namespace ringtrain::train

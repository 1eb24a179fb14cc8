// Data parallelism: every rank trains the whole model on its own micro-batches, and the reducer
// averages the gradients over all ranks bucket by bucket during backward.
#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>

#include "StepStrategy.h"
#include "platform/StopSignals.h"
#include "train/NonFinite.h"

namespace ringtrain::train {
namespace {

class DataParallelStep final : public StepStrategy {
 public:
  DataParallelStep(const StepContext& context, models::Classifier& model, double baseLr)
      : StepStrategy(context, model) {
    model_.to(context_.device);
    ddp::NamedParameters parameters;
    ddp::NamedParameters buffers;
    for (const auto& item : model_.named_parameters())
      parameters.emplace_back(item.key(), item.value());
    for (const auto& item : model_.named_buffers()) buffers.emplace_back(item.key(), item.value());
    trainThese(std::move(parameters), std::move(buffers), baseLr);
  }

  StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) override {
    const c10::Device device = context_.device;
    LossScaler& scaler = context_.scaler;
    at::Tensor stepLoss = at::zeros({1}, at::TensorOptions().device(device));
    for (int64_t m = 0; m < microBatches; ++m) {
      const data::Batch batch = context_.objective.withTargets(input.nextMicroBatch());
      // From pinned memory the copy does not hold the host, which goes on queueing this step's
      // kernels; on the device it runs in order on the compute stream, before them. (A batch is
      // small next to the compute it feeds; a copy stream would overlap it too.)
      const bool asynchronous = batch.features.is_pinned();
      at::Tensor logits;
      {
        const AutocastScope autocast(context_.config.precision, device.type());
        logits = model_.forward(batch.features.to(device, asynchronous));
      }
      const at::Tensor loss =
          context_.objective.meanLoss(logits, batch.labels.to(device, asynchronous));
      reducer_->prepareForBackward(/*synchronize=*/m + 1 == microBatches);
      const double share = static_cast<double>(microBatches);
      (scaler.enabled() ? loss * (scaler.scale() / share) : loss / share).backward();
      stepLoss += loss.detach();
      samples += batch.labels.size(0);
    }
    // Whether any rank was asked to stop travels with the loss, in the allreduce every step
    // makes anyway.
    const at::Tensor stopVote =
        at::full({1}, platform::stopSignalReceived() != 0 ? 1.0 : 0.0, stepLoss.options());
    const at::Tensor reduced =
        reducer_->finishBackward(at::cat({stepLoss / static_cast<double>(microBatches), stopVote}));
    scaler.unscale(parameterTensors_);
    // Where the host waits for the device each step: the loss, the stop vote and whether the
    // gradients are finite are needed before the update.
    const at::Tensor host = reduced.to(at::kCPU, at::kDouble);
    const double* value = host.const_data_ptr<double>();
    // The norm clipping computes anyway tells whether the gradients are finite.
    const double clip = context_.config.clipGradNorm;
    const double gradients = clip > 0 ? torch::nn::utils::clip_grad_norm_(model_.parameters(), clip)
                                      : gradientMagnitude(parameterTensors_);
    return {value[0], value[1] > 0, nonFiniteProblem(value[0], gradients)};
  }

  at::Tensor evaluate(const data::Batch& batch) override {
    const AutocastScope autocast(context_.config.precision, context_.device.type());
    return model_.forward(batch.features.to(context_.device, batch.features.is_pinned()));
  }

  comm::Communicator& replicas() override { return context_.data; }
  comm::Communicator& replicaControl() override { return context_.control; }

  TrainingPosition restore(const Checkpointer& checkpointer,
                           const checkpoint::Checkpoint& checkpoint,
                           int64_t trainSamples) override {
    return checkpointer.restore(checkpoint, trainSamples, model_, *optimizer_);
  }
  void gather(bool) override {}
  torch::optim::Optimizer& optimizerToSave() override { return *optimizer_; }
};

}  // namespace

std::unique_ptr<StepStrategy> makeDataParallelStep(const StepContext& context,
                                                   models::Classifier& model, double baseLr) {
  return std::make_unique<DataParallelStep>(context, model, baseLr);
}

}  // namespace ringtrain::train

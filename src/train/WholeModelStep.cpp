#include "train/WholeModelStep.h"

#include <ATen/ATen.h>

#include "health/Progress.h"
#include "platform/StopSignals.h"

namespace ringtrain::train {

WholeModelStep::WholeModelStep(const StepContext& context, models::Classifier& model, double baseLr,
                               ddp::GradientSharding sharding)
    : StepStrategy(context, model) {
  model_.to(context_.device);
  trainThese(namedParameters(model_), namedBuffers(model_), baseLr, sharding);
}

PassResult WholeModelStep::forwardBackward(EpochInput& input, int64_t microBatches,
                                           int64_t& samples) {
  const c10::Device device = context_.device;
  LossScaler& scaler = context_.scaler;
  at::Tensor stepLoss = at::zeros({1}, at::TensorOptions().device(device));
  for (int64_t m = 0; m < microBatches; ++m) {
    health::markPhase(health::Phase::kData);
    const data::Batch batch = context_.objective.withTargets(input.nextMicroBatch());
    health::markPhase(health::Phase::kForward);
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
    health::markPhase(health::Phase::kBackward);
    const double share = static_cast<double>(microBatches);
    (scaler.enabled() ? loss * (scaler.scale() / share) : loss / share).backward();
    stepLoss += loss.detach();
    samples += batch.labels.size(0);
  }
  health::markPhase(health::Phase::kOptimizer);
  // Whether any rank was asked to stop travels with the loss, in the allreduce every step makes
  // anyway.
  const at::Tensor stopVote =
      at::full({1}, platform::stopSignalReceived() != 0 ? 1.0 : 0.0, stepLoss.options());
  const at::Tensor reduced =
      reducer_->finishBackward(at::cat({stepLoss / static_cast<double>(microBatches), stopVote}));
  // Where the host waits for the device each step: the loss and the stop vote are needed before
  // the update.
  const at::Tensor host = reduced.to(at::kCPU, at::kDouble);
  const double* value = host.const_data_ptr<double>();
  return {value[0], value[1] > 0};
}

at::Tensor WholeModelStep::evaluate(const data::Batch& batch) {
  const AutocastScope autocast(context_.config.precision, context_.device.type());
  return model_.forward(batch.features.to(context_.device, batch.features.is_pinned()));
}

}  // namespace ringtrain::train

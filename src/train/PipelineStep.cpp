// Pipeline mode: this rank trains its stage of the model (PipelineParallel.h). Each micro-batch
// of the data-parallel sense (a batch of --batch-size) is cut into the pipeline's micro-batches;
// the stage's replicas average their gradients through the reducer, and with --zero 1 or 2 shard
// the stage's optimizer state (and gradients) among themselves (ShardedOptimizer.h).
#include <ATen/ATen.h>

#include <cmath>

#include "StepStrategy.h"
#include "health/Progress.h"
#include "platform/StopSignals.h"
#include "ringtrain/comm/Agreement.h"
#include "train/NonFinite.h"
#include "train/Optimizer.h"
#include "train/PipelineParallel.h"
#include "train/ShardedNorm.h"
#include "train/ShardedOptimizer.h"

namespace ringtrain::train {
namespace {

class PipelineStep final : public StepStrategy {
 public:
  // The stage moves its own layers to the device; the rest of the model stays on the CPU, where
  // rank 0 assembles the whole model for checkpoints and model.safetensors.
  PipelineStep(const StepContext& context, models::Classifier& model,
               const std::vector<int64_t>& sampleShape, double baseLr)
      : StepStrategy(context, model),
        pipeline_(context.config, model, sampleShape, context.control, context.data,
                  context.device) {
    const bool sharded = context.config.zeroStage > 0 && pipeline_.replicas().size() > 1;
    trainThese(
        pipeline_.parameters(), pipeline_.buffers(), baseLr,
        sharded ? gradientShardingOf(context.config.zeroStage) : ddp::GradientSharding::kNone);
    if (sharded) {
      sharded_ = std::make_unique<ShardedOptimizer>(context_.config.zeroStage, context_.reducer,
                                                    *reducer_, replicas(), replicaControl());
      optimizer_ = makeOptimizer(context_.config, sharded_->pieces(), baseLr_);
    }
  }

  void zeroGradients() override {
    StepStrategy::zeroGradients();
    if (sharded_) sharded_->dropGradients();
  }
  // The reducer uses the pipeline's communicators: it goes first.
  ~PipelineStep() override { reducer_.reset(); }

  // The loss lives on the last stage, the gradients on every stage, so one allreduce over all
  // ranks gathers the loss, the stop vote and the squared gradient norm.
  StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) override {
    LossScaler& scaler = context_.scaler;
    double stepLoss = 0;
    const double scale = scaler.enabled() ? scaler.scale() : 1.0;
    for (int64_t m = 0; m < microBatches; ++m) {
      health::markPhase(health::Phase::kData);
      const data::Batch batch = context_.objective.withTargets(input.nextMicroBatch());
      const bool lastMicroBatch = m + 1 == microBatches;
      const Objective& objective = context_.objective;
      const double factor =
          scale / static_cast<double>(objective.units(batch.labels) * microBatches);
      stepLoss +=
          pipeline_.train(
              batch, factor,
              [&](bool lastBackward) {
                reducer_->prepareForBackward(/*synchronize=*/lastMicroBatch && lastBackward);
              },
              [&objective](const at::Tensor& output, const at::Tensor& targets) {
                return objective.lossSum(output, targets);
              }) /
          scale;
      samples += batch.labels.size(0);
    }
    health::markPhase(health::Phase::kOptimizer);
    const at::TensorOptions options =
        at::TensorOptions().device(context_.device).dtype(at::kDouble);
    // The reducer's failures (a parameter without a gradient) are agreed among a stage's
    // replicas only; the allreduce below tells the other stages, which would wait otherwise.
    std::optional<comm::CollectiveFailure> failure;
    try {
      reducer_->finishBackward(at::zeros({0}, options));
    } catch (const comm::CollectiveFailure& stageFailure) {
      failure = stageFailure;
    }
    // Sharded, each replica holds the reduced gradients of its own shards; otherwise every
    // replica holds all of the stage's.
    std::vector<at::Tensor> gradients;
    if (sharded_) {
      gradients = sharded_->attachOwnedGradients();
      scaler.unscale(sharded_->pieces());
    } else {
      scaler.unscale(parameterTensors_);
      for (const at::Tensor& parameter : parameterTensors_) {
        if (parameter.grad().defined()) gradients.push_back(parameter.grad());
      }
    }
    const at::Tensor squares =
        gradients.empty()
            ? at::zeros({}, options)
            : at::stack(at::_foreach_norm(gradients, 2)).to(at::kDouble).square().sum();
    at::Tensor totals =
        at::stack({at::scalar_tensor(pipeline_.lastStage() ? stepLoss : 0.0, options),
                   at::scalar_tensor(platform::stopSignalReceived() != 0 ? 1.0 : 0.0, options),
                   squares, at::scalar_tensor(failure ? 1.0 : 0.0, options)});
    context_.data.allReduce(totals, comm::ReduceOp::kSum);
    const at::Tensor host = totals.cpu();
    if (host[3].item<double>() > 0) {
      // Exit status 2, as the reducer's own report.
      throw failure ? *failure : comm::CollectiveFailure("", false, 2);
    }
    // Each stage's replicas hold the same loss, and the same reduced gradients unless they
    // shard them.
    const double replicaCount = pipeline_.grid().replicas;
    const double loss = host[0].item<double>() / replicaCount;
    const double norm = std::sqrt(host[2].item<double>() / (sharded_ ? 1.0 : replicaCount));
    // With the norm over all stages.
    clipToNorm(gradients, norm, context_.config.clipGradNorm);
    return {loss, host[1].item<double>() > 0, nonFiniteProblem(loss, norm), norm};
  }

  at::Tensor evaluate(const data::Batch& batch) override { return pipeline_.evaluate(batch); }

  comm::Communicator& replicas() override { return pipeline_.replicas(); }
  comm::Communicator& replicaControl() override { return pipeline_.replicaControl(); }

  // Checkpoints hold the whole model's optimizer, as a data-parallel run writes it: read on the
  // CPU, and only this stage's part goes to the device.
  TrainingPosition restore(const Checkpointer& checkpointer,
                           const checkpoint::Checkpoint& checkpoint,
                           int64_t trainSamples) override {
    const auto whole = wholeModelOptimizer();
    const TrainingPosition position =
        checkpointer.restore(checkpoint, trainSamples, model_, *whole, c10::Device(c10::kCPU));
    if (sharded_) {
      sharded_->takeState(*whole, *optimizer_);
    } else {
      pipeline_.takeStageState(*whole, *optimizer_);
    }
    return position;
  }

  void update(double lr) override {
    StepStrategy::update(lr);
    if (sharded_) sharded_->gatherParameters();
  }

  // Rank 0 holds the whole model; the optimizer state goes to it tensor by tensor, stage after
  // stage, straight into the checkpoint's file.
  void gatherModel() override { pipeline_.gatherToRankZero(model_); }
  void writeOptimizerState(const ByteSink* sink) override {
    std::vector<bool> stated;
    if (sharded_) {
      // The sharded optimizer holds state for the reducer's parameters: the ones trained.
      const bool any = sharded_->hasState(*optimizer_);
      for (const at::Tensor& parameter : parameterTensors_) {
        stated.push_back(any && parameter.requires_grad());
      }
    } else {
      for (const at::Tensor& parameter : parameterTensors_) {
        stated.push_back(optimizer_->state().count(parameter.unsafeGetTensorImpl()) != 0);
      }
    }
    pipeline_.streamOptimizerState(
        model_, *stateKindOf(*optimizer_), stated,
        [&](const TensorSink* emit) {
          if (sharded_) {
            sharded_->emitWholeState(*optimizer_, emit);
          } else if (emit) {
            emitState(*optimizer_, statedParameters(*optimizer_, parameters_), *emit);
          }
        },
        sink);
  }

  std::string describe() const override { return pipeline_.describe(); }
  std::string describeSharding() const override {
    return sharded_ ? sharded_->describe() : std::string();
  }
  nlohmann::ordered_json pipelineReport(comm::Communicator& control) const override {
    return pipeline_.report(control);
  }

 private:
  PipelineParallel pipeline_;
  std::unique_ptr<ShardedOptimizer> sharded_;  // with --zero 1 or 2 and replicas to share with
};

}  // namespace

std::unique_ptr<StepStrategy> makePipelineStep(const StepContext& context,
                                               models::Classifier& model,
                                               const std::vector<int64_t>& sampleShape,
                                               double baseLr) {
  return std::make_unique<PipelineStep>(context, model, sampleShape, baseLr);
}

}  // namespace ringtrain::train

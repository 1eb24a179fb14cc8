// Sharded data parallelism (--zero 1 and 2, the stages of ZeRO): every rank runs the whole model
// on its own micro-batches, as in DataParallelStep, but owns one shard of every gradient bucket
// (ShardedOptimizer.h). The reducer reduce-scatters each bucket so that a rank ends backward with
// the averaged gradients of its shards (stage 2 keeps nothing else); this rank's optimizer holds
// state for those elements only and updates them; the updated shards are then all-gathered, so
// every rank's model is whole again before the next forward.
#include <ATen/ATen.h>

#include "StepStrategy.h"
#include "train/NonFinite.h"
#include "train/Optimizer.h"
#include "train/ShardedNorm.h"
#include "train/ShardedOptimizer.h"
#include "train/WholeModelStep.h"

namespace ringtrain::train {
namespace {

class ShardedStep final : public WholeModelStep {
 public:
  ShardedStep(const StepContext& context, models::Classifier& model, double baseLr)
      : WholeModelStep(context, model, baseLr, gradientShardingOf(context.config)),
        sharded_(context_.config, context_.reducer, *reducer_, replicas(), replicaControl()) {
    optimizer_ = makeOptimizer(context_.config, sharded_.pieces(), baseLr_);
  }

  void zeroGradients() override {
    StepStrategy::zeroGradients();
    sharded_.dropGradients();
  }

  StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) override {
    const PassResult pass = forwardBackward(input, microBatches, samples);
    const std::vector<at::Tensor> gradients = sharded_.attachOwnedGradients();
    context_.scaler.unscale(sharded_.pieces());
    const double norm = sharded_.groupNorm(gradients);
    clipToNorm(gradients, norm, context_.config.clipGradNorm);
    return {pass.loss, pass.stopVoted, nonFiniteProblem(pass.loss, norm)};
  }

  void update(double lr) override {
    // What the last checkpoint assembled is not kept between checkpoints.
    if (wholeOptimizer_) wholeOptimizer_->state().clear();
    StepStrategy::update(lr);
    sharded_.gatherParameters();
  }

  // A checkpoint holds the whole model's optimizer state, whatever wrote it: each rank reads it
  // on the CPU and moves its own pieces to the device, so a checkpoint resumes at any number of
  // ranks and any --zero, and the device never holds the whole state.
  TrainingPosition restore(const Checkpointer& checkpointer,
                           const checkpoint::Checkpoint& checkpoint,
                           int64_t trainSamples) override {
    const auto whole = wholeModelOptimizer();
    const TrainingPosition position =
        checkpointer.restore(checkpoint, trainSamples, model_, *whole, c10::Device(c10::kCPU));
    sharded_.takeState(*whole, *optimizer_);
    return position;
  }

  // The parameters are whole on every rank after each update; the optimizer state is put
  // together on rank 0, in host memory.
  void gather(bool withOptimizer) override {
    if (!withOptimizer) return;
    if (replicaControl().rank() == 0 && !wholeOptimizer_) wholeOptimizer_ = wholeModelOptimizer();
    sharded_.gatherState(*optimizer_, wholeOptimizer_.get());
  }
  torch::optim::Optimizer& optimizerToSave() override {
    return wholeOptimizer_ ? *wholeOptimizer_ : *optimizer_;
  }

  std::string describeSharding() const override { return sharded_.describe(); }

 private:
  ShardedOptimizer sharded_;
  // Rank 0, at checkpoints: the whole model's optimizer state, as --zero 0 keeps it.
  std::unique_ptr<torch::optim::Optimizer> wholeOptimizer_;
};

}  // namespace

std::unique_ptr<StepStrategy> makeShardedStep(const StepContext& context, models::Classifier& model,
                                              double baseLr) {
  return std::make_unique<ShardedStep>(context, model, baseLr);
}

}  // namespace ringtrain::train

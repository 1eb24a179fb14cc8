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
      : WholeModelStep(context, model, baseLr, gradientShardingOf(context.config.zeroStage)),
        sharded_(context_.config.zeroStage, context_.reducer, *reducer_, replicas(),
                 replicaControl()) {
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
    return {pass.loss, pass.stopVoted, nonFiniteProblem(pass.loss, norm), norm};
  }

  void update(double lr) override {
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

  // The parameters are whole on every rank after each update. The optimizer state goes to rank 0
  // piece by piece, straight into the checkpoint's file.
  void gatherModel() override {}
  void writeOptimizerState(const ByteSink* sink) override {
    sharded_.writeState(*optimizer_, sink);
  }

  std::string describeSharding() const override { return sharded_.describe(); }

 private:
  ShardedOptimizer sharded_;
};

}  // namespace

std::unique_ptr<StepStrategy> makeShardedStep(const StepContext& context, models::Classifier& model,
                                              double baseLr) {
  return std::make_unique<ShardedStep>(context, model, baseLr);
}

}  // namespace ringtrain::train

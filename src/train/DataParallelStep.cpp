// Data parallelism: every rank trains the whole model on its own micro-batches, and the reducer
// averages the gradients over all ranks bucket by bucket during backward.
#include <ATen/ATen.h>

#include "StepStrategy.h"
#include "train/NonFinite.h"
#include "train/ShardedNorm.h"
#include "train/WholeModelStep.h"

namespace ringtrain::train {
namespace {

class DataParallelStep final : public WholeModelStep {
 public:
  DataParallelStep(const StepContext& context, models::Classifier& model, double baseLr)
      : WholeModelStep(context, model, baseLr, ddp::GradientSharding::kNone) {}

  StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) override {
    const PassResult pass = forwardBackward(input, microBatches, samples);
    context_.scaler.unscale(parameterTensors_);
    // The norm clipping computes anyway tells whether the gradients are finite.
    const double clip = context_.config.clipGradNorm;
    const double gradients = clip > 0 ? clipByShards(clip) : gradientMagnitude(parameterTensors_);
    return {pass.loss, pass.stopVoted, nonFiniteProblem(pass.loss, gradients), gradients};
  }

  TrainingPosition restore(const Checkpointer& checkpointer,
                           const checkpoint::Checkpoint& checkpoint,
                           int64_t trainSamples) override {
    return checkpointer.restore(checkpoint, trainSamples, model_, *optimizer_);
  }
  void gatherModel() override {}
  void writeOptimizerState(const ByteSink* sink) override {
    if (sink) streamOptimizerState(*optimizer_, model_, *sink);
  }

 private:
  // The norm as --zero 1 and 2 compute it from their shards (ShardedNorm.h), so that the three
  // clip alike. Returns the norm before clipping.
  double clipByShards(double clip) {
    const int ranks = replicas().size();
    if (shardsByRank_.empty()) {
      for (int rank = 0; rank < ranks; ++rank) {
        shardsByRank_.push_back(ddp::shardBuckets(reducer_->buckets(), ranks, rank));
      }
    }
    std::vector<std::vector<at::Tensor>> pieces;
    for (const auto& shard : shardsByRank_) {
      pieces.push_back(pieceGradients(shard, reducer_->parameters()));
    }
    const double norm = normOfShards(sumsOfSquares(pieces));
    std::vector<at::Tensor> gradients;
    for (const auto& [name, parameter] : reducer_->parameters()) {
      gradients.push_back(parameter.grad());
    }
    clipToNorm(gradients, norm, clip);
    return norm;
  }

  std::vector<std::vector<ddp::BucketShard>> shardsByRank_;  // every rank's shard of the buckets
};

}  // namespace

std::unique_ptr<StepStrategy> makeDataParallelStep(const StepContext& context,
                                                   models::Classifier& model, double baseLr) {
  return std::make_unique<DataParallelStep>(context, model, baseLr);
}

}  // namespace ringtrain::train

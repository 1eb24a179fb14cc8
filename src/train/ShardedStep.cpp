// Sharded data parallelism (--zero 1 and 2, the stages of ZeRO): every rank runs the whole model
// on its own micro-batches, as in DataParallelStep, but owns one shard of every gradient bucket
// (ddp/BucketShards.h). The reducer reduce-scatters each bucket so that a rank ends backward with
// the averaged gradients of its shards (stage 2 keeps nothing else); this rank's optimizer holds
// state for those elements only and updates them; the updated shards are then all-gathered, so
// every rank's model is whole again before the next forward.
//
// The parameters are moved into flat tensors laid out as the buckets are, one per bucket, so the
// optimizer works on slices of them (one per piece of a parameter in a shard) and the all-gather
// lands in place. With --allreduce ring the arithmetic is the allreduce's, split: a run gives the
// same bits as --zero 0.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <sstream>

#include "StepStrategy.h"
#include "comm/ShardedCollectives.h"
#include "ddp/BucketShards.h"
#include "platform/Resources.h"
#include "ringtrain/util/Error.h"
#include "train/NonFinite.h"
#include "train/Optimizer.h"
#include "train/ShardedNorm.h"
#include "train/ShardedOptimizerState.h"
#include "train/WholeModelStep.h"

namespace ringtrain::train {
namespace {

class ShardedStep final : public WholeModelStep {
 public:
  ShardedStep(const StepContext& context, models::Classifier& model, double baseLr)
      : WholeModelStep(context, model, baseLr,
                       context.config.zeroStage == 1 ? ddp::GradientSharding::kScatter
                                                     : ddp::GradientSharding::kScatterAndRelease) {
    flattenParameters();
    shards_ = ddp::shardBuckets(reducer_->buckets(), replicas().size(), replicas().rank());
    for (size_t b = 0; b < shards_.size(); ++b) {
      for (const ddp::ShardPiece& piece : shards_[b].pieces) {
        pieces_.push_back(flat_[b].narrow(0, piece.bucketOffset, piece.numel).detach());
      }
    }
    optimizer_ = makeOptimizer(context_.config, pieces_, baseLr_);
    // Checkpoints travel between rank 0 and the others on the CPU communicator, whose ranks are
    // the data communicator's.
    RINGTRAIN_CHECK(context_.control.rank() == replicas().rank() &&
                        context_.control.size() == replicas().size(),
                    "the control and data communicators number the ranks differently");
  }

  // The pieces' gradients are views of the last step's: let go with the parameters', so that
  // the next backward does not allocate beside them.
  void zeroGradients() override {
    StepStrategy::zeroGradients();
    for (at::Tensor& piece : pieces_) piece.mutable_grad() = at::Tensor();
  }

  StepOutcome step(EpochInput& input, int64_t microBatches, int64_t& samples) override {
    const PassResult pass = forwardBackward(input, microBatches, samples);
    const std::vector<at::Tensor> gradients = attachOwnedGradients();
    context_.scaler.unscale(pieces_);
    const double norm = globalNorm(gradients);
    clipToNorm(gradients, norm, context_.config.clipGradNorm);
    return {pass.loss, pass.stopVoted, nonFiniteProblem(pass.loss, norm)};
  }

  void update(double lr) override {
    // What the last checkpoint assembled is not kept between checkpoints.
    if (wholeOptimizer_) wholeOptimizer_->state().clear();
    StepStrategy::update(lr);
    c10::NoGradGuard noGrad;
    for (at::Tensor& flat : flat_) {
      comm::allGatherShards(context_.reducer.algorithm, replicas(), flat, context_.reducer.ring);
    }
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
    // The settings the checkpoint's optimizer ran with, as --zero 0 takes them from it.
    optimizer_->param_groups().front().set_options(whole->param_groups().front().options().clone());
    optimizer_->state().clear();
    forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& mine) {
      const at::Tensor& parameter = reducer_->parameters()[piece.parameter].second;
      const auto found = whole->state().find(parameter.unsafeGetTensorImpl());
      if (found == whole->state().end()) return;
      std::vector<at::Tensor> tensors;
      for (const at::Tensor& tensor : stateTensors(*found->second)) {
        tensors.push_back(tensor.reshape(-1)
                              .narrow(0, piece.parameterOffset, piece.numel)
                              .to(at::TensorOptions().device(context_.device),
                                  /*non_blocking=*/false,
                                  /*copy=*/true));
      }
      optimizer_->state()[mine.unsafeGetTensorImpl()] =
          makeState(context_.config, std::move(tensors), stateStep(*found->second));
    });
    return position;
  }

  // The parameters are whole on every rank after each update; the optimizer state is put
  // together on rank 0, in host memory.
  void gather(bool withOptimizer) override {
    if (withOptimizer) gatherOptimizerState();
  }
  torch::optim::Optimizer& optimizerToSave() override {
    return wholeOptimizer_ ? *wholeOptimizer_ : *optimizer_;
  }

  std::string describe() const override {
    std::ostringstream text;
    text << "--zero " << context_.config.zeroStage << ": optimizer state"
         << (context_.config.zeroStage == 2 ? " and gradients" : "") << " sharded over "
         << context_.data.size() << " ranks (this rank updates " << ownedParameterElements()
         << " of " << totalParameterElements() << " parameter elements)";
    return text.str();
  }

 private:
  void flattenParameters() {
    c10::NoGradGuard noGrad;
    const ddp::NamedParameters& trained = reducer_->parameters();
    for (const ddp::BucketSpec& bucket : reducer_->buckets()) {
      const at::Tensor& first = trained[bucket.entries.front().parameter].second;
      // Zeros in the alignment gaps, which the all-gathers carry along.
      at::Tensor flat = at::zeros({bucket.numel}, first.options().requires_grad(false));
      for (const ddp::BucketEntry& entry : bucket.entries) {
        at::Tensor parameter = trained[entry.parameter].second;
        at::Tensor slot = flat.narrow(0, entry.offset, entry.numel);
        slot.copy_(parameter.reshape(-1));
        parameter.set_data(slot.view(parameter.sizes()));
      }
      flat_.push_back(std::move(flat));
    }
    platform::releaseFreedMemory();  // the parameters' first storage
  }

  int64_t ownedParameterElements() const {
    int64_t elements = 0;
    for (const at::Tensor& piece : pieces_) elements += piece.numel();
    return elements;
  }
  int64_t totalParameterElements() const {
    int64_t elements = 0;
    for (const auto& [name, parameter] : reducer_->parameters()) elements += parameter.numel();
    return elements;
  }

  // `visit(piece, itsTensor)` for each piece this rank owns, in bucket order.
  template <typename Visit>
  void forEachPiece(Visit&& visit) {
    size_t next = 0;
    for (const ddp::BucketShard& shard : shards_) {
      for (const ddp::ShardPiece& piece : shard.pieces) visit(piece, pieces_[next++]);
    }
  }

  // The reduced gradients of this rank's shards become its pieces' gradients.
  std::vector<at::Tensor> attachOwnedGradients() {
    std::vector<at::Tensor> gradients;
    for (size_t b = 0, next = 0; b < shards_.size(); ++b) {
      const at::Tensor owned = reducer_->ownedGradient(b);
      for (const ddp::ShardPiece& piece : shards_[b].pieces) {
        at::Tensor gradient =
            owned.narrow(0, piece.bucketOffset - shards_[b].span.begin, piece.numel);
        pieces_[next++].mutable_grad() = gradient;
        gradients.push_back(std::move(gradient));
      }
    }
    return gradients;
  }

  // Every rank's sum of squares, added in rank order (ShardedNorm.h).
  double globalNorm(const std::vector<at::Tensor>& gradients) {
    const at::Tensor mine =
        at::full({1}, sumOfSquares(gradients),
                 at::TensorOptions().device(context_.device).dtype(at::kDouble));
    const at::Tensor all = replicas().allGather(mine).to(at::kCPU).reshape(-1);
    return normOfShards(std::vector<double>(all.const_data_ptr<double>(),
                                            all.const_data_ptr<double>() + all.numel()));
  }

  // Rank 0 receives every other rank's pieces of the state, in host memory, straight into the
  // whole tensors it saves; the others send theirs (from the CPU) piece by piece.
  void gatherOptimizerState() {
    comm::Communicator& control = context_.control;
    const bool rankZero = control.rank() == 0;
    if (rankZero && !wholeOptimizer_) wholeOptimizer_ = wholeModelOptimizer();
    // Whether any rank has state yet (none before the first update), AdamW's step count, which
    // every piece shares, and whether some piece lacks state that others have.
    int64_t mark = 0;
    bool lacking = false;
    forEachPiece([&](const ddp::ShardPiece&, const at::Tensor& mine) {
      const auto found = optimizer_->state().find(mine.unsafeGetTensorImpl());
      if (found == optimizer_->state().end()) {
        lacking = true;
      } else {
        mark = stateStep(*found->second) + 1;
      }
    });
    at::Tensor marks = at::tensor({static_cast<double>(mark), lacking ? 1.0 : 0.0}, at::kDouble);
    control.allReduce(marks, comm::ReduceOp::kMax);
    const auto agreed = static_cast<int64_t>(marks[0].item<double>());
    if (wholeOptimizer_) {
      wholeOptimizer_->state().clear();
      // The learning rate of the last step, as --zero 0's optimizer has it.
      wholeOptimizer_->param_groups().front().set_options(
          optimizer_->param_groups().front().options().clone());
    }
    const int fields = stateTensorCount(context_.config);
    if (agreed == 0 || fields == 0) return;
    // Every rank throws together rather than leave rank 0 waiting for a piece never sent.
    RINGTRAIN_CHECK(marks[1].item<double>() == 0,
                    "some parameters have optimizer state on one rank and none on another");
    c10::NoGradGuard noGrad;
    if (!rankZero) {
      forEachPiece([&](const ddp::ShardPiece&, const at::Tensor& mine) {
        const auto& state = *optimizer_->state().at(mine.unsafeGetTensorImpl());
        for (const at::Tensor& tensor : stateTensors(state)) control.send(tensor.cpu(), 0);
      });
      return;
    }
    const ddp::NamedParameters& trained = reducer_->parameters();
    std::vector<std::vector<at::Tensor>> whole(trained.size());
    for (size_t p = 0; p < trained.size(); ++p) {
      for (int field = 0; field < fields; ++field) {
        whole[p].push_back(
            at::empty(trained[p].second.sizes(), trained[p].second.options().device(at::kCPU)));
      }
    }
    const auto slotsOf = [&](const ddp::ShardPiece& piece) {
      std::vector<at::Tensor> slots;
      for (const at::Tensor& tensor : whole[piece.parameter]) {
        slots.push_back(tensor.view(-1).narrow(0, piece.parameterOffset, piece.numel));
      }
      return slots;
    };
    forEachPiece([&](const ddp::ShardPiece& piece, const at::Tensor& mine) {
      const std::vector<at::Tensor> states =
          stateTensors(*optimizer_->state().at(mine.unsafeGetTensorImpl()));
      std::vector<at::Tensor> slots = slotsOf(piece);
      for (size_t field = 0; field < slots.size(); ++field) slots[field].copy_(states[field]);
    });
    for (int rank = 1; rank < control.size(); ++rank) {
      for (const ddp::BucketShard& shard :
           ddp::shardBuckets(reducer_->buckets(), control.size(), rank)) {
        for (const ddp::ShardPiece& piece : shard.pieces) {
          for (at::Tensor& slot : slotsOf(piece)) control.recv(slot, rank);
        }
      }
    }
    for (size_t p = 0; p < trained.size(); ++p) {
      wholeOptimizer_->state()[trained[p].second.unsafeGetTensorImpl()] =
          makeState(context_.config, std::move(whole[p]), agreed - 1);
    }
  }

  std::vector<at::Tensor> flat_;          // per bucket: the parameters, laid out as the bucket
  std::vector<ddp::BucketShard> shards_;  // this rank's shard of each bucket
  std::vector<at::Tensor> pieces_;        // what the optimizer updates: slices of flat_
  // Rank 0, at checkpoints: the whole model's optimizer state, as --zero 0 keeps it.
  std::unique_ptr<torch::optim::Optimizer> wholeOptimizer_;
};

}  // namespace

std::unique_ptr<StepStrategy> makeShardedStep(const StepContext& context, models::Classifier& model,
                                              double baseLr) {
  return std::make_unique<ShardedStep>(context, model, baseLr);
}

}  // namespace ringtrain::train

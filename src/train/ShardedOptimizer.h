// The part of a sharded optimizer (--zero 1 and 2, the stages of ZeRO) that one rank holds: for
// a reducer whose buckets are reduce-scattered among a group of replicas, this rank owns one shard
// of every bucket (ddp/BucketShards.h), and its optimizer updates those elements only.
//
// The reducer's parameters are moved into flat tensors laid out as its buckets are, one per
// bucket, so the optimizer works on slices of them (one per piece of a parameter in a shard) and
// the all-gather that makes every replica's parameters whole again lands in place. With the ring
// (--allreduce ring) the arithmetic is the allreduce's, split: the same bits as without sharding.
//
// Used by the strategies that shard: ShardedStep (every rank a replica of the whole model) and
// PipelineStep (each stage's replicas shard that stage).
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ddp/BucketShards.h"
#include "ddp/Reducer.h"
#include "ringtrain/comm/Communicator.h"
#include "train/OptimizerStateFile.h"

namespace ringtrain::train {

// Stage 1 reduce-scatters into whole buckets, stage 2 keeps only the shards.
ddp::GradientSharding gradientShardingOf(int zeroStage);

class ShardedOptimizer {
 public:
  // Moves `reducer`'s parameters into bucket-shaped tensors. `group` is the reducer's
  // communicator, `groupControl` the same ranks on the CPU, numbered alike.
  ShardedOptimizer(int zeroStage, const ddp::ReducerOptions& options, const ddp::Reducer& reducer,
                   comm::Communicator& group, comm::Communicator& groupControl);

  // What this rank's optimizer updates: its slices of the parameters.
  const std::vector<at::Tensor>& pieces() const { return pieces_; }
  // Lets go of the pieces' gradients, views of the last step's, so that the next backward does
  // not allocate beside them.
  void dropGradients();
  // After the reducer's finishBackward: the reduced gradients of this rank's shards become the
  // pieces' gradients, which are returned.
  std::vector<at::Tensor> attachOwnedGradients();
  // Collective over the group: the L2 norm of all ranks' `gradients` (their owned gradients),
  // each rank's sum of squares added in rank order (ShardedNorm.h).
  double groupNorm(const std::vector<at::Tensor>& gradients);
  // Collective: after the optimizer stepped, every rank's updated slices to every rank.
  void gatherParameters();

  // `optimizer`'s state (an optimizer over pieces()) cut out of `whole`, an optimizer of the same
  // kind over the reducer's parameters (among others) with state on any device. `optimizer` keeps
  // its settings.
  void takeState(const torch::optim::Optimizer& whole, torch::optim::Optimizer& optimizer) const;
  // Collective over the group: whether `optimizer` has state (none before the first update).
  bool hasState(const torch::optim::Optimizer& optimizer) const {
    return agreedStep(optimizer).has_value();
  }
  // Collective: the group's rank 0, given `emit`, receives the whole state of `optimizer` over
  // the reducer's parameters as whole tensors, one at a time, in optimizer.safetensors' order
  // (for each parameter, its fields, then AdamW's step), in host memory; the other ranks, given
  // none, send their pieces. Nothing when there is no state yet.
  void emitWholeState(const torch::optim::Optimizer& optimizer, const TensorSink* emit);
  // Collective: the group's rank 0, given a sink, receives the whole state of `optimizer` over the
  // reducer's parameters as optimizer.safetensors holds it (OptimizerStateFile.h), one piece at a
  // time; the other ranks, given none, send theirs.
  void writeState(const torch::optim::Optimizer& optimizer, const ByteSink* sink);

  // "--zero 2: optimizer state and gradients sharded over 4 ranks (...)", for the banner.
  std::string describe() const;

 private:
  void flattenParameters();
  // Whether `optimizer` updates pieces(), in their order.
  bool updatesThePieces(const torch::optim::Optimizer& optimizer) const;
  // Collective: AdamW's step count, which every piece shares (0 for SGD), or nothing when no rank
  // has state yet (none before the first update). InternalError on every rank together when some
  // piece lacks state that others have, or the pieces' steps differ, rather than leave rank 0
  // waiting for a piece never sent.
  std::optional<int64_t> agreedStep(const torch::optim::Optimizer& optimizer) const;
  // Collective, once agreedStep found state: the group's rank 0 gets every rank's pieces of the
  // state, parameter by parameter and field by field, each parameter's pieces in order, as
  // `arrive(parameter, field, piece, values)` (in host memory), and `finished(parameter)` after
  // each parameter; the other ranks send theirs in the same order. Rank 0 holds one piece at a
  // time.
  using PieceArrival = std::function<void(size_t parameter, size_t field,
                                          const ddp::ShardPiece& piece, const at::Tensor& values)>;
  void collectPieces(const torch::optim::Optimizer& optimizer, const PieceArrival& arrive,
                     const std::function<void(size_t)>& finished) const;
  // `visit(piece, itsTensor)` for each piece this rank owns, in bucket order.
  template <typename Visit>
  void forEachPiece(Visit&& visit) const {
    size_t next = 0;
    for (const ddp::BucketShard& shard : reducer_.ownedShards()) {
      for (const ddp::ShardPiece& piece : shard.pieces) visit(piece, pieces_[next++]);
    }
  }

  const int zeroStage_;
  const ddp::ReducerOptions options_;
  const ddp::Reducer& reducer_;
  comm::Communicator& group_;
  comm::Communicator& groupControl_;
  std::vector<at::Tensor> flat_;    // per bucket: the parameters, laid out as the bucket
  std::vector<at::Tensor> pieces_;  // what the optimizer updates: slices of flat_
};

}  // namespace ringtrain::train

// Data parallelism for any torch::nn::Module in a loop of your own: at construction every rank
// takes rank 0's parameters and buffers; during backward the gradients are averaged over the
// ranks in buckets, overlapping communication with backward where that pays (src/ddp/Reducer.h).
//
//   ringtrain::DataParallel parallel(runtime, *model);
//   for each step:
//     parallel.zeroGrad();
//     for each micro-batch m of M:
//       parallel.prepareForBackward(/*synchronize=*/m == M - 1);
//       (loss / M).backward();
//     const double meanLoss = parallel.finishBackward({loss.item<double>()})[0];
//     optimizer.step();
//     parallel.finishStep();
//
// With a ZeRO stage (docs/sharding.md) the ranks share the optimizer's work and state: each rank
// owns a slice of every gradient bucket, gets the averaged gradients of its slices only (stage 2
// keeps no others), and its optimizer, built over optimizerParameters(), updates those slices;
// finishStep() then all-gathers them. Save and restore checkpoints with the overloads of
// Checkpoints.h that take the DataParallel: they hold whole tensors, as without sharding.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "ringtrain/Export.h"
#include "ringtrain/Runtime.h"
#include "ringtrain/ddp/ReducerOptions.h"

namespace ringtrain {
namespace ddp {
class Reducer;
}  // namespace ddp
namespace train {
class ShardedOptimizer;
}  // namespace train

class RINGTRAIN_API DataParallel {
 public:
  // The module must already be on runtime.device(). Collective. With options.overlapMode kAuto,
  // overlap is chosen as `ringtrain train` chooses it. `zeroStage` 1 shards the optimizer state
  // over the ranks, 2 the gradients too (0, or one rank: nothing is sharded); the module's
  // parameters then move into bucket-shaped storage, so build the optimizer afterwards.
  DataParallel(Runtime& runtime, torch::nn::Module& module, ddp::ReducerOptions options = {},
               int zeroStage = 0);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  void zeroGrad();
  // Before every backward. synchronize = false: this backward's gradients only accumulate here
  // (the earlier micro-batches of gradient accumulation).
  void prepareForBackward(bool synchronize = true);
  // After the last backward of a step: waits until every gradient holds the mean over the ranks,
  // and returns the mean over the ranks of `values` (this rank's loss, say) in the same
  // allreduce.
  std::vector<double> finishBackward(const std::vector<double>& values = {});
  // After finishBackward: the L2 norm of the averaged gradients, which are scaled down to `maxNorm`
  // where it is above (clip_grad_norm_ over the ranks). Returns the norm before. Collective with
  // sharding (the norm adds every rank's slices); without, every rank computes the same norm.
  double clipGradNorm(double maxNorm);
  // After optimizer.step(): with sharding, every rank's updated slices to every rank (collective);
  // nothing otherwise.
  void finishStep();

  // What the optimizer updates: the module's parameters that require gradients, or with sharding
  // this rank's slices of them (an SGD or AdamW over these checkpoints through Checkpoints.h).
  std::vector<at::Tensor> optimizerParameters() const;
  // The ZeRO stage in effect: 0 without sharding (also when asked for with one rank).
  int zeroStage() const;
  // Floating-point buffers (BatchNorm's running statistics) set to their mean over the ranks:
  // before evaluating or saving. Collective.
  void averageBuffers();

  const std::vector<ddp::BucketSpec>& buckets() const;
  const ddp::ReducerStats& stats() const;

 private:
  Runtime& runtime_;
  torch::nn::Module& module_;
  std::unique_ptr<ddp::Reducer> reducer_;
  std::unique_ptr<train::ShardedOptimizer> sharded_;  // with a ZeRO stage over two ranks or more
  int zeroStage_ = 0;                                 // 0 without sharded_

  friend struct DataParallelInternals;
};

}  // namespace ringtrain

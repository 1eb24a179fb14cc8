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

class RINGTRAIN_API DataParallel {
 public:
  // The module must already be on runtime.device(). Collective. With options.overlapMode kAuto,
  // overlap is chosen as `ringtrain train` chooses it.
  DataParallel(Runtime& runtime, torch::nn::Module& module, ddp::ReducerOptions options = {});
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
  // Floating-point buffers (BatchNorm's running statistics) set to their mean over the ranks:
  // before evaluating or saving. Collective.
  void averageBuffers();

  const std::vector<ddp::BucketSpec>& buckets() const;
  const ddp::ReducerStats& stats() const;

 private:
  Runtime& runtime_;
  torch::nn::Module& module_;
  std::unique_ptr<ddp::Reducer> reducer_;
};

}  // namespace ringtrain

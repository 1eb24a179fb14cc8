// Averages gradients across ranks, overlapping the communication with backward.
//
// Gradients are reduced in flat bucket tensors (see BucketPlan.h). An autograd hook on each
// parameter's gradient accumulator tells the reducer when that gradient is final; it copies the
// gradient into its slot of the bucket and makes .grad a view of that slot, so after the step
// the gradients live only in the buckets. A bucket of a single parameter is that parameter's
// gradient tensor itself, reduced where autograd left it without a copy; with one rank there is
// nothing to reduce and no gradient is moved. When the last gradient of a bucket is in, the bucket
// is handed to the communication thread and reduced while backward goes on; the final bucket, which
// completes as backward ends, is reduced by finishBackward itself.
// Buckets are launched strictly in plan order, so all ranks issue the same collectives in the
// same order even if their hooks fire in different orders.
//
// One optimizer step:
//   reducer.zeroGradients();
//   for each micro-step: reducer.prepareForBackward(isLastMicroStep); loss.backward();
//   meanScalars = reducer.finishBackward(scalars);   // grads now hold the mean over ranks
//
// Packing a gradient into its bucket multiplies it by 1/world on the way (kernels/BucketPack.h),
// so buckets are summed across ranks without another pass; a gradient reduced in place (a bucket
// of one) is averaged by the backend instead.
//
// With sharded gradients (ZeRO stages 1 and 2, GradientSharding) a bucket is reduce-scattered
// instead: each rank ends the step with the mean of its own shard of every bucket
// (BucketShards.h), ownedGradient(), and the rest of the bucket is left unspecified. Stage 2 also
// lets go of a bucket's full gradients once its shard is reduced, so that between steps a rank
// holds gradients for its shards only, and during backward the buckets being filled or reduced.
//
// On GPUs there is no communication thread: the hook that completes a bucket starts its allreduce
// on the NCCL communication stream, ordered after the gradient's kernels by a CUDA event, and
// finishBackward makes the compute stream wait for all of them.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comm/AllReduce.h"
#include "ddp/BucketPlan.h"
#include "ddp/BucketShards.h"
#include "ddp/ParameterSync.h"
#include "ringtrain/comm/Communicator.h"
#include "util/NameTable.h"

namespace torch::autograd {
struct Node;
}

namespace ringtrain::ddp {

class CommThread;

enum class GradientSharding {
  kNone,               // allreduce: every rank holds every averaged gradient
  kScatter,            // reduce-scatter into the full buckets (stage 1)
  kScatterAndRelease,  // reduce-scatter, keep only the owned shards (stage 2)
};

const NameTable<GradCompression>& gradCompressionNames();  // none, fp16, bf16
std::string compressionName(GradCompression compression);
bool overlapPays(OverlapMode mode, bool onGpu, int spareCoresPerRank);

class Reducer {
 public:
  Reducer(comm::Communicator& comm, NamedParameters parameters, ReducerOptions options,
          GradientSharding sharding = GradientSharding::kNone);
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  const std::vector<BucketSpec>& buckets() const { return plan_; }
  const ReducerStats& stats() const { return stats_; }
  // The trainable parameters, which the buckets' entries index.
  const NamedParameters& parameters() const { return parameters_; }

  // With sharding: this rank's shard of each bucket (BucketShards.h), and after finishBackward
  // its gradients, averaged over the ranks.
  const std::vector<BucketShard>& ownedShards() const { return owned_; }
  at::Tensor ownedGradient(size_t bucket) const;
  // Bytes of gradients held: now, and at most at any time so far (buckets, adopted gradients and
  // owned shards; not what autograd holds before a gradient reaches its bucket).
  int64_t gradientBytes() const { return gradientBytes_; }
  int64_t peakGradientBytes() const { return peakGradientBytes_; }

  // Starts a new optimizer step: the next backward's gradients replace the current ones.
  void zeroGradients();
  // Call before each backward. Gradients of a backward with synchronize=false just accumulate
  // locally (earlier micro-steps of --grad-accum); a synchronised one reduces them all.
  void prepareForBackward(bool synchronize);
  // Waits for every bucket and returns the mean over ranks of `scalars` (a 1-D floating tensor on
  // the parameters' device). A parameter that got no gradient in any micro-step of this step is
  // reduced as zeros with findUnusedParameters and otherwise an error, raised on every rank
  // together.
  at::Tensor finishBackward(const at::Tensor& scalars);

 private:
  friend class GradientReadyHook;
  void markReady(size_t parameter);
  void launchCompleteBuckets();  // caller holds mutex_
  // A bucket's allreduce in two halves, so that on GPUs it can run while backward goes on.
  void startBucket(size_t bucket);
  void finishBucket(size_t bucket);
  std::unique_ptr<comm::PendingTransfer> startReduction(at::Tensor& tensor, comm::ReduceOp op);
  void reduceBucket(size_t bucket);
  void attachGradient(size_t parameter);
  void ensureStorage(size_t bucket);  // stage 2 allocates a bucket when backward first needs it
  void releaseBucket(size_t bucket);  // stage 2: the owned shard kept, the rest let go
  void holdBucket(size_t bucket, bool held);  // counts its bytes as held, or not
  void countGradientBytes(int64_t change);
  void adoptGradient(size_t parameter, size_t bucket);

  comm::Communicator& comm_;
  NamedParameters parameters_;
  ReducerOptions options_;
  GradientSharding sharding_;
  std::vector<BucketSpec> plan_;
  std::vector<BucketShard> owned_;          // per bucket, with sharding: this rank's shard
  std::vector<at::Tensor> ownedGradients_;  // per bucket, stage 2: the owned shard's gradients
  std::vector<int64_t> heldBytes_;          // per bucket: counted in gradientBytes_
  std::vector<at::Tensor> storage_;         // one flat tensor per bucket
  std::vector<at::Tensor> views_;           // per parameter: its slot in storage_, shaped like it
  // Per bucket: storage_ is the gradient itself (a bucket of one parameter) or unused (one rank),
  // instead of a tensor the gradients are copied into.
  std::vector<char> adopts_;
  std::vector<size_t> bucketOf_;  // per parameter

  // Kept alive here: a parameter holds its gradient accumulator only weakly, and a fresh
  // accumulator would not carry the hook.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hookKeys_;
  std::unique_ptr<CommThread> commThread_;  // null without overlap, and on GPUs
  // On GPUs with overlap: buckets start from the hooks and are joined in finishBackward.
  bool startsFromHooks_ = false;
  struct InFlight {
    std::unique_ptr<comm::PendingTransfer> transfer;
    at::Tensor wire;  // the 16-bit copy being reduced, with gradient compression
  };
  std::vector<InFlight> inFlight_;  // per bucket

  // Backward state; hooks may run on autograd's device threads, hence the mutex.
  std::mutex mutex_;
  bool synchronizing_ = false;
  std::vector<char> ready_;               // per parameter, this pass
  std::vector<int64_t> pendingInBucket_;  // per bucket: gradients not yet ready
  size_t nextLaunch_ = 0;                 // buckets launch in plan order
  size_t reducedEarly_ = 0;               // stage 2 without overlap: buckets reduced in hooks
  bool accumulating_ = false;             // this step had a backward that did not synchronise
  std::vector<std::string> duplicateReady_;
  ReducerStats stats_;
  std::atomic<int64_t> gradientBytes_{0};
  std::atomic<int64_t> peakGradientBytes_{0};
};

}  // namespace ringtrain::ddp

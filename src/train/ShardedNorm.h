// The global gradient norm, the way sharded data parallelism can compute it: each shard of the
// buckets (ddp/BucketShards.h) sums the squares of its gradients, and the shards' sums are added
// in shard order. Where one rank holds every gradient (--zero 0) it computes every shard's sum
// itself, so --clip-grad-norm scales the gradients by the same factor, to the bit, whether the
// optimizer is sharded or not.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "ddp/BucketShards.h"
#include "ddp/ParameterSync.h"

namespace ringtrain::train {

// The gradients of `shard`'s pieces (one BucketShard per bucket), as views of `parameters`'
// gradients, which must all be defined and contiguous.
std::vector<at::Tensor> pieceGradients(const std::vector<ddp::BucketShard>& shard,
                                       const ddp::NamedParameters& parameters);

// sqrt of the shards' sums of squares, added in order.
double normOfShards(const std::vector<double>& sumsOfSquares);

// As torch::nn::utils::clip_grad_norm_ scales: by maxNorm / (norm + 1e-6) where that is below 1.
// Nothing for maxNorm 0 (no clipping) or a norm that is not finite.
void clipToNorm(const std::vector<at::Tensor>& gradients, double norm, double maxNorm);

}  // namespace ringtrain::train

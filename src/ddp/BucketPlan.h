// Which gradients travel together. Pure arithmetic, no tensors and no communication, so every rank
// computes the same plan from the same parameter list and the plan is unit-tested on its own.
//
// Like PyTorch DDP: parameters are taken in reverse registration order (roughly the order in which
// backward produces their gradients), a bucket closes once it holds at least its byte limit, the
// first bucket has a small limit so that communication starts early in backward, and parameters
// of different element types never share a bucket (a bucket is one flat tensor).
//
// Unlike DDP, a parameter larger than half its bucket's limit gets a bucket of its own: that
// bucket would be mostly this parameter anyway, and a bucket of one parameter is reduced in the
// gradient tensor autograd produced, saving a copy of the largest gradients every step.
//
// Every entry starts on a kEntryAlignBytes boundary inside its bucket, as a tensor of its own
// starts on one in memory (LibTorch's CPU allocator aligns to 64 bytes). Kernels that read a
// parameter or gradient in place in a bucket (LibTorch's matrix products, where sharded data
// parallelism keeps the parameters in bucket-shaped tensors) then take the paths they take for a
// tensor of its own, and give the same bits. The gaps are zeros and cost under 64 bytes each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringtrain/ddp/ReducerOptions.h"

namespace ringtrain::ddp {

constexpr int64_t kEntryAlignBytes = 64;

struct ParameterShape {
  int64_t numel = 0;
  int64_t elementBytes = 4;
  int typeKey = 0;  // parameters with different keys go to different buckets
};

// Buckets in launch order: bucket 0 holds the last-registered parameters. Every parameter appears
// in exactly one bucket.
std::vector<BucketSpec> assignBuckets(const std::vector<ParameterShape>& parameters,
                                      const BucketLimits& limits);

}  // namespace ringtrain::ddp

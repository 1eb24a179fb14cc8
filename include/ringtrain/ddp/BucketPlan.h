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
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringtrain::ddp {

constexpr int64_t kDefaultBucketBytes = 25LL * 1024 * 1024;
constexpr int64_t kDefaultFirstBucketBytes = 1024 * 1024;

struct ParameterShape {
  int64_t numel = 0;
  int64_t elementBytes = 4;
  int typeKey = 0;  // parameters with different keys go to different buckets
};

struct BucketEntry {
  size_t parameter = 0;  // index into the parameter list
  int64_t offset = 0;    // first element inside the bucket
  int64_t numel = 0;
};

struct BucketSpec {
  std::vector<BucketEntry> entries;  // in the order backward is expected to fill them
  int64_t numel = 0;
  int64_t elementBytes = 4;
  int typeKey = 0;
  int64_t bytes() const { return numel * elementBytes; }
};

struct BucketLimits {
  int64_t bucketBytes = kDefaultBucketBytes;
  int64_t firstBucketBytes = kDefaultFirstBucketBytes;  // capped at bucketBytes
};

// Buckets in launch order: bucket 0 holds the last-registered parameters. Every parameter appears
// in exactly one bucket.
std::vector<BucketSpec> assignBuckets(const std::vector<ParameterShape>& parameters,
                                      const BucketLimits& limits);

}  // namespace ringtrain::ddp

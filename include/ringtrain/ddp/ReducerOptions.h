// The settings and figures of gradient averaging that programs see: through
// DataParallel (ringtrain/DataParallel.h) and TrainConfig::reducer. The reducer itself, and the
// plan of which gradients travel together, live in src/ddp/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringtrain/comm/Communicator.h"

namespace ringtrain::ddp {

constexpr int64_t kDefaultBucketBytes = 25LL * 1024 * 1024;
constexpr int64_t kDefaultFirstBucketBytes = 1024 * 1024;

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

enum class GradCompression { kNone, kFp16, kBf16 };

// Whether buckets are reduced during backward. Overlap only pays when something other than the
// backward thread's core moves the bytes: NCCL kernels on a GPU, or a spare CPU core for the
// communication thread. On CPU ranks with no spare core the communication thread (and MPI's
// polling for progress) takes its time from backward, which was measured to be slower than
// reducing after backward; see docs/BENCHMARKS.md.
enum class OverlapMode { kAuto, kOn, kOff };

struct ReducerOptions {
  BucketLimits limits;
  bool overlap = true;  // false: reduce every bucket after backward (the baseline)
  OverlapMode overlapMode = OverlapMode::kAuto;  // what was asked for; overlap is the outcome
  bool findUnusedParameters = false;
  GradCompression compression = GradCompression::kNone;
  comm::AllReduceAlgorithm algorithm = comm::AllReduceAlgorithm::kAuto;
  comm::RingOptions ring;
};

struct ReducerStats {
  int64_t steps = 0;           // synchronised backward passes finished
  int64_t bucketsReduced = 0;  // over all steps
  int64_t hookCalls = 0;       // gradient-ready notifications in synchronised passes
  // Time backward's end waited for communication (finishBackward), and --zero 2's reductions
  // from the hooks, which backward waits for.
  double exposedSeconds = 0;
};

}  // namespace ringtrain::ddp

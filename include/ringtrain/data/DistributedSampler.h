// Which sample indices each rank reads. Pure index arithmetic (LibTorch is used only for its
// random permutation), so the results match PyTorch's torch.utils.data.DistributedSampler exactly:
//   shuffle:   torch.randperm(size, generator seeded with seed + epoch), else 0..size-1
//   pad:       without drop_last, repeat the list from its start until it divides by world
//   drop:      with drop_last, cut it down to a multiple of world
//   stride:    rank r takes positions r, r + world, r + 2*world, ...
// A run resumed mid-epoch, possibly at another world size, starts at the epoch's global sample
// position instead: the samples left in the epoch's order are padded (from the order's start)
// or cut, and dealt, as above. At the same world size that is exactly the rest of each rank's
// original shard.
#pragma once

#include <cstdint>
#include <vector>

#include "ringtrain/Export.h"

namespace ringtrain::data {

struct ShardSpec {
  int64_t datasetSize = 0;
  int worldSize = 1;
  int rank = 0;
  uint64_t seed = 0;
  int64_t epoch = 0;
  bool shuffle = true;
  bool dropLast = false;
  // Positions of the epoch's order read before this run started (by every rank together).
  int64_t firstSample = 0;
};

// How many indices every rank gets (the same on every rank) of `samples`.
RINGTRAIN_API int64_t samplesPerRank(int64_t samples, int worldSize, bool dropLast);

// The training order for one rank in one epoch. Throws UserError if the spec is invalid.
RINGTRAIN_API std::vector<int64_t> shardIndices(const ShardSpec& spec);

// Evaluation shard: rank r takes r, r + world, ... below datasetSize, with no padding, so that over
// all ranks every sample is counted exactly once. Ranks may get one index more or less than others.
RINGTRAIN_API std::vector<int64_t> evaluationIndices(int64_t datasetSize, int worldSize, int rank);

}  // namespace ringtrain::data

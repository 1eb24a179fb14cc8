// What the library's checkpoints read from a DataParallel besides its public face: the sharded
// optimizer, when it shards.
#pragma once

#include "ringtrain/DataParallel.h"
#include "train/ShardedOptimizer.h"

namespace ringtrain {

struct DataParallelInternals {
  // Null without sharding.
  static train::ShardedOptimizer* sharded(DataParallel& parallel) {
    return parallel.sharded_.get();
  }
};

}  // namespace ringtrain

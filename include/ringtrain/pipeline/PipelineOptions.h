// The settings of pipeline mode (TrainConfig::pipeline): which schedule the stages run and how
// the model's layers are cut into stages. The schedules and the partitioning live in
// src/pipeline/.
#pragma once

#include <vector>

namespace ringtrain::pipeline {

// GPipe: all forwards, then all backwards. 1F1B: one forward, one backward, in turn, so that a
// stage holds fewer micro-batches' activations.
enum class ScheduleKind { kGpipe, k1f1b };

// Which consecutive layers of a sequential model each pipeline stage gets (--partition).
struct PartitionSpec {
  enum class Method {
    kParameters,  // balance the stages' parameter counts (the largest as small as possible)
    kUniform,     // as equal layer counts as possible
    kExplicit,    // the user's layer counts
  };
  Method method = Method::kParameters;
  std::vector<int> layerCounts;  // kExplicit only
};

}  // namespace ringtrain::pipeline

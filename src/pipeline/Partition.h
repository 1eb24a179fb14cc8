// Which consecutive layers of a sequential model each pipeline stage gets (--partition).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringtrain/pipeline/PipelineOptions.h"

namespace ringtrain::pipeline {

// "params", "uniform" or "explicit:4,4,6"; UserError naming `flag` otherwise.
PartitionSpec parsePartition(const std::string& flag, const std::string& text);
std::string describe(const PartitionSpec& spec);

// Layers per stage, in order: `stages` counts of at least 1 that add up to the number of layers.
// `layerWeights` holds each layer's parameter count. UserError if there are fewer layers than
// stages, or explicit counts that do not fit the model.
std::vector<int> partitionLayers(const PartitionSpec& spec,
                                 const std::vector<int64_t>& layerWeights, int stages);

}  // namespace ringtrain::pipeline

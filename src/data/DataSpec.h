// The forms a data flag (--data, --train, --val) takes, read in one place:
//   synthetic:N[:DIM[:CLASSES]]  the built-in data set (SyntheticDataset.h)
//   csv:PATH                     a CSV file, or a directory of them
//   idx:DIR                      MNIST's IDX files
//   shards:DIR                   a data set `ringtrain prep` wrote, memory-mapped
//   pipe:PREFIX                  a SageMaker Pipe-mode channel, streamed once per epoch
//   PATH                         by what it holds: a shard data set, a directory of IDX files,
//                                or else CSV
#pragma once

#include <string>

#include "data/SyntheticDataset.h"
#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

enum class DataFormat { kSynthetic, kCsv, kIdx, kShards, kPipe };

struct DataSpec {
  DataFormat format = DataFormat::kCsv;
  std::string text;         // as the user wrote it, for messages and summaries
  std::string location;     // the path, or the Pipe-mode prefix; empty for synthetic data
  SyntheticSpec synthetic;  // DataFormat::kSynthetic
};

// UserError naming the spec for an empty one or a malformed synthetic:... . A bare PATH is told
// apart by looking at it, so parse where the path is meant to be read.
DataSpec parseDataSpec(const std::string& text);

// Reads a spec held in memory (not shards:, not pipe:, which are read as they are used).
Dataset loadDataset(const DataSpec& spec, Split split, const LoadOptions& options);

}  // namespace ringtrain::data

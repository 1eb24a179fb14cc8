// What `ringtrain kmeans` and `ringtrain pca` share: flags naming the data set and reading it;
// both run on every rank of an mpirun job through launch::runCommand.
#pragma once

#include <cxxopts.hpp>
#include <memory>
#include <string>

#include "data/SampleSource.h"
#include "flags/FlagGroups.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::cli {

// --data, --csv-header, --label-column, --seed, --batch-size, --threads, --comm-timeout,
// --output-dir, --help.
void addStatisticsFlags(cxxopts::Options& options, const std::string& defaultOutput);

struct StatisticsInput {
  std::shared_ptr<const data::SampleSource> data;
  std::string spec;
  uint64_t seed = 0;
  int64_t batchRows = 0;
  flags::RankFlags rank;  // --threads, --comm-timeout
  std::string outputDir;
};

// Reads the data set the flags name: shards are memory-mapped, anything else is read into memory.
StatisticsInput loadStatisticsInput(const cxxopts::ParseResult& flags);

// Sets this rank's intra-op threads (0: cores / ranks on the host).
void placeOnCpu(const comm::Topology& topology, int threads);

}  // namespace ringtrain::cli

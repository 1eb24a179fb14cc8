// What `ringtrain kmeans` and `ringtrain pca` share: flags naming the data set, reading it, and
// running on every rank of an mpirun job with the failure handling of `ringtrain train` (setup
// fails on every rank together, a rank failing alone ends the job).
#pragma once

#include <cxxopts.hpp>
#include <functional>
#include <memory>
#include <string>

#include "data/SampleSource.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::cli {

// --data, --csv-header, --label-column, --seed, --batch-size, --threads, --output-dir, --help.
void addStatisticsFlags(cxxopts::Options& options, const std::string& defaultOutput);

struct StatisticsInput {
  std::shared_ptr<const data::SampleSource> data;
  std::string spec;
  uint64_t seed = 0;
  int64_t batchRows = 0;
  int threads = 0;  // 0: cores / ranks on the host
  std::string outputDir;
};

// Reads the data set the flags name: shards are memory-mapped, anything else is read into memory.
StatisticsInput loadStatisticsInput(const cxxopts::ParseResult& flags);

// Sets this rank's intra-op threads (0: cores / ranks on the host).
void placeOnCpu(const comm::Topology& topology, int threads);

// Starts MPI, then runs `body(control)` on every rank; `body` returns the exit status. A
// CollectiveFailure (from comm::runOnAllRanks) ends every rank with its status; any other
// exception ends the whole job from the rank that threw it.
int runStatisticsJob(const std::string& command, int argc, char** argv,
                     const std::function<int(comm::Communicator& control)>& body);

}  // namespace ringtrain::cli

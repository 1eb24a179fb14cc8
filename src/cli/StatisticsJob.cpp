#include "StatisticsJob.h"

#include <iostream>

#include "data/DataSpec.h"
#include "data/ShardedDataset.h"
#include "flags/FlagValues.h"
#include "platform/Placement.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

void addStatisticsFlags(cxxopts::Options& options, const std::string& defaultOutput) {
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  options.add_options()(
      "data",
      "the data set: shards:DIR (memory-mapped, any size), csv:PATH, idx:DIR or synthetic:N[:DIM] "
      "(its training split); labels are ignored",
      text("synthetic:20000"),
      "SPEC")("seed", "seed for every random choice (and synthetic data)", text("42"), "S")(
      "batch-size", "rows read and processed at a time per rank", text("4096"), "N")(
      "output-dir", "where the results go (rank 0 writes them)", text(defaultOutput.c_str()),
      "DIR")("h,help", "show this help");
  flags::addCsvFlags(options, "", "CSV: 0-based column of the label, which is skipped, or none",
                     "0");
  flags::addRankFlags(options, "", flags::Devices::kCpuOnly);
}

StatisticsInput loadStatisticsInput(const cxxopts::ParseResult& flags) {
  StatisticsInput input;
  input.spec = flags["data"].as<std::string>();
  input.seed = flags::parseUnsigned("seed", flags["seed"].as<std::string>());
  input.batchRows = flags::parseInteger("batch-size", flags["batch-size"].as<std::string>());
  RINGTRAIN_USER_CHECK(input.batchRows > 0 && input.batchRows <= (int64_t{1} << 24),
                       "--batch-size must be between 1 and 16777216");
  input.rank = flags::readRankFlags(flags, flags::Devices::kCpuOnly);
  input.outputDir = flags["output-dir"].as<std::string>();
  RINGTRAIN_USER_CHECK(!input.outputDir.empty(), "--output-dir must not be empty");
  data::LoadOptions options;
  options.seed = input.seed;
  options.csv = flags::readCsvFlags(flags, true);
  const data::DataSpec spec = data::parseDataSpec(input.spec);
  if (spec.format == data::DataFormat::kShards) {
    input.data = data::ShardedDataset::open(spec.location, data::ShardOpenOptions());
  } else {
    input.data = data::inMemorySource(data::loadDataset(spec, data::Split::kTrain, options));
  }
  RINGTRAIN_USER_CHECK(input.data->size() > 0, "--data " << input.spec << " holds no samples");
  return input;
}

void placeOnCpu(const comm::Topology& topology, int threads) {
  const platform::Placement placement =
      platform::placeRank("cpu", "auto", topology, threads, false);
  platform::applyPlacement(placement);
  if (topology.rank == 0 && !placement.threadLimit.empty()) {
    std::cout << "ringtrain: note: " << placement.threadLimit << std::endl;
  }
}

}  // namespace ringtrain::cli

#include "StatisticsJob.h"

#include <iostream>

#include "comm/Session.h"
#include "data/ShardedDataset.h"
#include "flags/FlagValues.h"
#include "launch/RankFailure.h"
#include "platform/Placement.h"
#include "ringtrain/comm/Agreement.h"
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
      text("synthetic:20000"), "SPEC")("csv-header", "CSV files start with a header line")(
      "label-column", "CSV: 0-based column of the label, which is skipped, or none", text("0"),
      "K")("seed", "seed for every random choice (and synthetic data)", text("42"), "S")(
      "batch-size", "rows read and processed at a time per rank", text("4096"), "N")(
      "threads", "intra-op threads per rank (0: the cores this rank may use)", text("0"), "N")(
      "output-dir", "where the results go (rank 0 writes them)", text(defaultOutput.c_str()),
      "DIR")("h,help", "show this help");
}

StatisticsInput loadStatisticsInput(const cxxopts::ParseResult& flags) {
  StatisticsInput input;
  input.spec = flags["data"].as<std::string>();
  input.seed = flags::parseUnsigned("seed", flags["seed"].as<std::string>());
  input.batchRows = flags::parseInteger("batch-size", flags["batch-size"].as<std::string>());
  RINGTRAIN_USER_CHECK(input.batchRows > 0 && input.batchRows <= (int64_t{1} << 24),
                       "--batch-size must be between 1 and 16777216");
  input.threads =
      static_cast<int>(flags::parseInteger("threads", flags["threads"].as<std::string>()));
  RINGTRAIN_USER_CHECK(input.threads >= 0, "--threads must not be negative");
  input.outputDir = flags["output-dir"].as<std::string>();
  RINGTRAIN_USER_CHECK(!input.outputDir.empty(), "--output-dir must not be empty");
  const std::string labelColumn = flags["label-column"].as<std::string>();
  data::LoadOptions options;
  options.seed = input.seed;
  options.csv.header = flags.count("csv-header") > 0;
  options.csv.labelColumn = flags::parseLabelColumn(labelColumn, true);
  const std::string& spec = input.spec;
  const bool shards = spec.rfind("shards:", 0) == 0 || data::isShardDirectory(spec);
  if (shards) {
    data::ShardOpenOptions open;
    input.data =
        data::ShardedDataset::open(spec.rfind("shards:", 0) == 0 ? spec.substr(7) : spec, open);
  } else {
    input.data = data::inMemorySource(data::loadDataset(spec, data::Split::kTrain, options));
  }
  RINGTRAIN_USER_CHECK(input.data->size() > 0, "--data " << spec << " holds no samples");
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

int runStatisticsJob(const std::string& command, int argc, char** argv,
                     const std::function<int(comm::Communicator& control)>& body) {
  comm::Session session(&argc, &argv);
  const comm::Topology& topology = session.topology();
  const auto control = session.makeCpuCommunicator();
  try {
    return body(*control);
  } catch (const comm::CollectiveFailure& failure) {
    return launch::reportCollectiveFailure("ringtrain " + command, topology, failure);
  } catch (const std::exception& error) {
    launch::abortAfterRankFailure("ringtrain " + command, session, error);
  }
}

}  // namespace ringtrain::cli

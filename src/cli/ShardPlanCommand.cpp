#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::cli {

int runShardPlan(int argc, char** argv) {
  cxxopts::Options options("ringtrain shard-plan",
                           "Print, as JSON, which sample indices each rank reads in one epoch "
                           "(the same indices as PyTorch's DistributedSampler).");
  options.add_options()("size", "number of samples in the data set", cxxopts::value<std::string>(),
                        "N")("world", "number of ranks", cxxopts::value<std::string>(), "W")(
      "epoch", "epoch number (0-based)", cxxopts::value<std::string>()->default_value("0"), "E")(
      "seed", "shuffle seed, as ringtrain train's --seed (PyTorch's DistributedSampler uses 0)",
      cxxopts::value<std::string>()->default_value("42"),
      "S")("no-shuffle", "keep samples in order")("drop-last", "drop the tail instead of padding")(
      "h,help", "show this help");
  const cxxopts::ParseResult result = flags::parseFlags(options, argc, argv);
  if (result.count("help")) {
    std::cout << options.help();
    return 0;
  }
  RINGTRAIN_USER_CHECK(result.count("size") && result.count("world"),
                       "--size and --world are required (see ringtrain shard-plan --help)");

  data::ShardSpec spec;
  spec.datasetSize = flags::parseInteger("size", result["size"].as<std::string>());
  const int64_t world = flags::parseInteger("world", result["world"].as<std::string>());
  RINGTRAIN_USER_CHECK(world >= 1 && world <= 1 << 20, "--world must be between 1 and 1048576");
  spec.worldSize = static_cast<int>(world);
  spec.epoch = flags::parseInteger("epoch", result["epoch"].as<std::string>());
  spec.seed = flags::parseUnsigned("seed", result["seed"].as<std::string>());
  spec.shuffle = result.count("no-shuffle") == 0;
  spec.dropLast = result.count("drop-last") > 0;

  nlohmann::ordered_json plan{
      {"size", spec.datasetSize},
      {"world", spec.worldSize},
      {"epoch", spec.epoch},
      {"seed", spec.seed},
      {"shuffle", spec.shuffle},
      {"drop_last", spec.dropLast},
      {"samples_per_rank", data::samplesPerRank(spec.datasetSize, spec.worldSize, spec.dropLast)},
      {"ranks", nlohmann::ordered_json::array()}};
  for (int rank = 0; rank < spec.worldSize; ++rank) {
    spec.rank = rank;
    plan["ranks"].push_back(data::shardIndices(spec));
  }
  std::cout << plan.dump() << std::endl;
  return 0;
}

}  // namespace ringtrain::cli

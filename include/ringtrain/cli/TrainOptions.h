// Command-line flags of `ringtrain train` and their translation into a TrainConfig.
#pragma once

#include <string>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::cli {

struct ParsedTrainOptions {
  train::TrainConfig config;
  bool help = false;
  std::string helpText;
};

// argv[0] is the subcommand name. UserError naming the flag on any bad value or unknown flag.
ParsedTrainOptions parseTrainOptions(int argc, char** argv);

}  // namespace ringtrain::cli

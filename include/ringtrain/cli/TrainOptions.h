// Command-line flags of `ringtrain train` and their translation into a TrainConfig.
#pragma once

#include <chrono>
#include <string>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::cli {

struct ParsedTrainOptions {
  train::TrainConfig config;
  // How long a rank waits in one communication call before it ends the job; zero waits forever.
  std::chrono::milliseconds commTimeout{0};
  bool help = false;
  std::string helpText;
};

// argv[0] is the subcommand name. UserError naming the flag on any bad value or unknown flag.
ParsedTrainOptions parseTrainOptions(int argc, char** argv);

}  // namespace ringtrain::cli

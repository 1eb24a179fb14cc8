// Command-line flags of `ringtrain train` and their translation into a TrainConfig.
#pragma once

#include <chrono>
#include <string>
#include <vector>

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
// The same, from words that follow `ringtrain train`.
ParsedTrainOptions parseTrainOptions(const std::vector<std::string>& arguments);

// The long names of `ringtrain train`'s flags (without dashes), and whether each is a switch.
struct TrainFlag {
  std::string name;
  bool isSwitch = false;
};
std::vector<TrainFlag> trainFlags();

}  // namespace ringtrain::cli

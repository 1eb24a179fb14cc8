// Command-line flags of `ringtrain train` and their translation into a TrainConfig
// (parseTrainOptions(argc, argv) is public: ringtrain/train/TrainConfig.h).
#pragma once

#include <string>
#include <vector>

#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

// parseTrainOptions(argc, argv) from words that follow `ringtrain train`.
TrainOptions parseTrainOptions(const std::vector<std::string>& arguments);

// The long names of `ringtrain train`'s flags (without dashes), and whether each is a switch.
struct TrainFlag {
  std::string name;
  bool isSwitch = false;
};
std::vector<TrainFlag> trainFlags();

}  // namespace ringtrain::train

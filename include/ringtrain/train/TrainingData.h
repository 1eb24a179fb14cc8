// Loading the training and validation sets named by the config, with the checks a user needs:
// label ranges, matching sample shapes, enough samples for the ranks and the batch size.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "ringtrain/data/SampleSource.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

struct TrainingData {
  std::shared_ptr<const data::SampleSource> train;  // null when training reads a stream
  std::optional<std::string> trainStream;           // pipe:PREFIX: PREFIX
  std::shared_ptr<const data::SampleSource> validation;
  int64_t numClasses = 0;
};

// `ranksSharing`: how many ranks deal out the training samples between them (all ranks, or
// those of one host when each host has its own files).
TrainingData loadTrainingData(const TrainConfig& config, int ranksSharing);

}  // namespace ringtrain::train

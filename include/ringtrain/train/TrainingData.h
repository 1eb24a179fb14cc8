// Loading the training and validation sets named by the config, with the checks a user needs:
// label ranges, matching sample shapes, enough samples for the ranks and the batch size.
#pragma once

#include "ringtrain/data/Dataset.h"
#include "ringtrain/train/TrainConfig.h"

namespace ringtrain::train {

struct TrainingData {
  data::Dataset train;
  data::Dataset validation;
  int64_t numClasses = 0;
};

TrainingData loadTrainingData(const TrainConfig& config, int worldSize);

}  // namespace ringtrain::train

#include "ringtrain/train/TrainingData.h"

#include <ATen/ATen.h>

#include <sstream>

#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

std::string shapeText(const std::vector<int64_t>& shape) {
  std::ostringstream text;
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? "x" : "") << shape[i];
  return text.str();
}

// Labels must lie in [0, numClasses); names the first offending sample (0-based data row).
void checkLabels(const data::Dataset& dataset, int64_t numClasses, const std::string& flag) {
  const at::Tensor outside = (dataset.labels >= numClasses).nonzero();
  if (outside.numel() == 0) return;
  const int64_t row = outside[0][0].item<int64_t>();
  throw UserError(flag + " " + dataset.source + ": data row " + std::to_string(row + 1) +
                  " has label " + std::to_string(dataset.labels[row].item<int64_t>()) +
                  ", outside the classes 0.." + std::to_string(numClasses - 1));
}

bool wantsStandardization(const TrainConfig& config, const data::Dataset& train) {
  if (config.normalization == Normalization::kAuto) {
    return train.features.dim() == 2 && config.trainSpec.rfind("synthetic:", 0) != 0;
  }
  return config.normalization == Normalization::kStandard;
}

}  // namespace

TrainingData loadTrainingData(const TrainConfig& config, int worldSize) {
  data::LoadOptions options;
  options.csv = config.csv;
  options.seed = config.seed;

  TrainingData loaded;
  if (config.valSpec.empty()) {
    auto all = data::loadDataset(config.trainSpec, data::Split::kTrain, options);
    std::tie(loaded.train, loaded.validation) =
        data::splitOffValidation(all, config.valFraction, config.seed);
  } else {
    loaded.train = data::loadDataset(config.trainSpec, data::Split::kTrain, options);
    loaded.validation = data::loadDataset(config.valSpec, data::Split::kValidation, options);
  }

  RINGTRAIN_USER_CHECK(config.numClasses >= 0, "--num-classes must not be negative");
  loaded.numClasses = config.numClasses > 0 ? config.numClasses : loaded.train.numClasses;
  checkLabels(loaded.train, loaded.numClasses, "--train");
  checkLabels(loaded.validation, loaded.numClasses, "--val");

  RINGTRAIN_USER_CHECK(loaded.train.sampleShape() == loaded.validation.sampleShape(),
                       "--val " << loaded.validation.source << " has samples of shape "
                                << shapeText(loaded.validation.sampleShape()) << " but --train "
                                << loaded.train.source << " has "
                                << shapeText(loaded.train.sampleShape()));
  RINGTRAIN_USER_CHECK(loaded.train.size() >= worldSize,
                       "--train " << loaded.train.source << " has " << loaded.train.size()
                                  << " samples, fewer than the " << worldSize << " ranks");
  RINGTRAIN_USER_CHECK(
      !config.dropLast ||
          data::samplesPerRank(loaded.train.size(), worldSize, true) >= config.batchSize,
      "--drop-last leaves no full batch: " << loaded.train.size() << " samples over " << worldSize
                                           << " ranks is less than --batch-size "
                                           << config.batchSize << " per rank");

  if (wantsStandardization(config, loaded.train))
    data::standardize(loaded.train, loaded.validation);
  return loaded;
}

}  // namespace ringtrain::train

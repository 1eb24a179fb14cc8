#include "train/TrainingData.h"

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "data/DataSpec.h"
#include "data/ShardedDataset.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"
#include "train/StreamedEpoch.h"
#include "util/Files.h"

namespace ringtrain::train {
namespace {

std::string shapeText(const std::vector<int64_t>& shape) {
  std::ostringstream text;
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? "x" : "") << shape[i];
  return text.str();
}

// Labels must lie in [0, numClasses); names the first offending sample by its file and line where
// the data set knows them (CSV), else by its data row counted from 1.
void checkLabels(const data::Dataset& dataset, int64_t numClasses, const std::string& flag) {
  const at::Tensor outside = (dataset.labels >= numClasses).nonzero();
  if (outside.numel() == 0) return;
  const int64_t row = outside[0][0].item<int64_t>();
  const std::string place = dataset.placeOfRow ? dataset.placeOfRow(row) : "";
  const std::string label = std::to_string(dataset.labels[row].item<int64_t>());
  const std::string classes = "the classes 0.." + std::to_string(numClasses - 1);
  if (!place.empty()) {
    throw UserError(flag + " " + place + ": label " + label + " is outside " + classes);
  }
  throw UserError(flag + " " + dataset.source + ": data row " + std::to_string(row + 1) +
                  " has label " + label + ", outside " + classes);
}

// A warning when the labels, taken as classes, leave fewer than two rows per class: the mark of
// a --label-column that names a feature.
std::optional<std::string> doubtfulClassCount(const data::Dataset& dataset,
                                              const TrainConfig& config, bool synthetic) {
  const int64_t rows = dataset.size();
  // Only a table's label column can be the wrong one (not images', not synthetic data's).
  const bool table = dataset.features.dim() == 2 && !synthetic;
  if (!table || config.numClasses > 0 || dataset.numClasses <= 2 ||
      dataset.numClasses * 2 <= rows) {
    return std::nullopt;
  }
  return dataset.source + ": its labels (--label-column " +
         (config.csv.labelColumn == data::kNoLabelColumn ? std::string("none")
                                                         : std::to_string(config.csv.labelColumn)) +
         ", counted from 0) make " + std::to_string(dataset.numClasses) + " classes for " +
         std::to_string(rows) + " rows; is that column the label? (--num-classes C silences this)";
}

bool standardizesInMemory(const TrainConfig& config, const data::Dataset& train, bool synthetic) {
  if (config.normalization == Normalization::kAuto) return train.features.dim() == 2 && !synthetic;
  return config.normalization == Normalization::kStandard;
}

std::shared_ptr<const data::ShardedDataset> openShards(
    const TrainConfig& config, const std::string& directory,
    const std::optional<data::FeatureStatistics>& standardizeWith) {
  data::ShardOpenOptions options;
  options.useIndex = config.sharding == DataSharding::kGlobal;
  options.context = config.context;
  options.standardizeWith = standardizeWith;
  std::shared_ptr<const data::ShardedDataset> dataset =
      data::ShardedDataset::open(directory, options);
  RINGTRAIN_USER_CHECK(config.model.kind != models::ModelKind::kAutoencoder ||
                           dataset->description().kind != data::ShardKind::kTokens,
                       "--model autoencoder reconstructs features, and "
                           << dataset->source()
                           << " holds token windows (train --model "
                              "gpt on them)");
  // Shuffled reads go all over the files: reading ahead of a sample would only evict the
  // pages of the samples the loader announced it is about to read.
  if (config.shuffle) dataset->expectRandomAccess();
  return dataset;
}

// As for data in memory: auto standardises tables of features (from CSV or a .npy table), with
// the statistics `ringtrain prep` recorded over the whole training set, which it records for
// tables only; train and validation use the same.
std::optional<data::FeatureStatistics> standardizationOf(const TrainConfig& config,
                                                         const data::ShardedDataset& train) {
  const data::DatasetIndex& index = train.description();
  const bool recorded = !index.featureMean.empty();
  if (config.normalization == Normalization::kStandard) {
    RINGTRAIN_USER_CHECK(recorded,
                         "--normalize standard: " << train.source()
                                                  << (config.sharding == DataSharding::kHost
                                                          ? " is read without its index "
                                                            "(--data-sharding host), which holds "
                                                            "the feature statistics"
                                                          : " has no feature statistics (only a "
                                                            "table of features has them)"));
  } else if (config.normalization == Normalization::kNone || !recorded) {
    return std::nullopt;
  }
  return data::featureStatistics(index.featureMean, index.featureStd, index.count);
}

void checkSameSamples(const std::vector<int64_t>& trainShape, const std::string& trainSource,
                      const std::vector<int64_t>& validationShape,
                      const std::string& validationSource) {
  RINGTRAIN_USER_CHECK(trainShape == validationShape,
                       "--val " << validationSource << " has samples of shape "
                                << shapeText(validationShape) << " but --train " << trainSource
                                << " has " << shapeText(trainShape));
}

void checkClassCount(const data::SampleSource& source, int64_t numClasses,
                     const std::string& flag) {
  RINGTRAIN_USER_CHECK(source.numClasses() <= numClasses,
                       flag << " " << source.source() << " has labels up to "
                            << source.numClasses() - 1 << ", outside the classes 0.."
                            << numClasses - 1);
}

// Token ids of one tokenizer mean nothing to a model of another's.
void checkSameTokenizer(const std::optional<text::TokenizerRecord>& train,
                        const std::string& trainSource,
                        const std::optional<text::TokenizerRecord>& validation,
                        const std::string& validationSource) {
  RINGTRAIN_USER_CHECK(!train || !validation || *train == *validation,
                       "--val " << validationSource << " was tokenized with another tokenizer ("
                                << validation->kind << ") than --train " << trainSource << " ("
                                << train->kind << "): prepare both with the same --tokenizer");
}

// Only the validation set is opened: the stream is read epoch by epoch (StreamedEpoch.h), and
// arrives as stored, so nothing is standardised.
TrainingData loadForStream(TrainConfig config, const std::string& prefix) {
  RINGTRAIN_USER_CHECK(
      !config.valSpec.empty() && config.valSpec != kNoValidation,
      "--train " << config.trainSpec
                 << " is a stream, which cannot be split and does not say the shape of its "
                    "samples before it is read: give --val");
  RINGTRAIN_USER_CHECK(config.normalization != Normalization::kStandard,
                       "--normalize standard cannot apply to a stream (pipe:); standardise the "
                       "features before streaming them");
  config.normalization = Normalization::kNone;
  TrainingData loaded;
  loaded.trainStream = prefix;
  const data::DataSpec val = data::parseDataSpec(config.valSpec);
  if (val.format == data::DataFormat::kShards) {
    loaded.validation = openShards(config, val.location, std::nullopt);
  } else {
    data::LoadOptions options;
    options.csv = config.csv;
    options.seed = config.seed;
    loaded.validation =
        data::inMemorySource(data::loadDataset(val, data::Split::kValidation, options));
  }
  loaded.numClasses = config.numClasses > 0 ? config.numClasses : loaded.validation->numClasses();
  if (config.model.kind != models::ModelKind::kAutoencoder) {
    checkClassCount(*loaded.validation, loaded.numClasses, "--val");
  }
  return loaded;
}

}  // namespace

TrainingData loadTrainingData(const TrainConfig& config, int ranksSharing) {
  const data::DataSpec trainSpec = data::parseDataSpec(config.trainSpec);
  if (trainSpec.format == data::DataFormat::kPipe) return loadForStream(config, trainSpec.location);
  const bool synthetic = trainSpec.format == data::DataFormat::kSynthetic;
  data::LoadOptions options;
  options.csv = config.csv;
  options.seed = config.seed;
  RINGTRAIN_USER_CHECK(config.numClasses >= 0, "--num-classes must not be negative");

  // Shard data sets are opened (nothing is read yet); anything else is read into memory, where it
  // is split, checked and standardised as whole tensors.
  TrainingData loaded;
  // An autoencoder ignores the labels, so their range does not matter.
  const bool labelsMatter = config.model.kind != models::ModelKind::kAutoencoder;
  std::optional<data::Dataset> train;
  std::optional<data::Dataset> validation;
  std::optional<data::FeatureStatistics> shardStatistics;
  if (trainSpec.format == data::DataFormat::kShards) {
    const auto raw = openShards(config, trainSpec.location, std::nullopt);
    shardStatistics = standardizationOf(config, *raw);
    loaded.train = shardStatistics ? openShards(config, trainSpec.location, shardStatistics) : raw;
    loaded.tokenizer = raw->tokenizer();
  } else {
    train = data::loadDataset(trainSpec, data::Split::kTrain, options);
    // Before the split shuffles the rows, so that an error names the row of the file.
    if (labelsMatter) {
      checkLabels(*train, config.numClasses > 0 ? config.numClasses : train->numClasses, "--train");
      if (const auto doubt = doubtfulClassCount(*train, config, synthetic))
        loaded.warnings.push_back(*doubt);
    }
  }
  if (config.valSpec == kNoValidation) {
    // Nothing held out: every sample trains, and nothing is validated.
  } else if (!config.valSpec.empty()) {
    const data::DataSpec val = data::parseDataSpec(config.valSpec);
    if (val.format == data::DataFormat::kShards) {
      const auto shards = openShards(config, val.location, shardStatistics);
      checkSameTokenizer(loaded.tokenizer, config.trainSpec, shards->tokenizer(), val.location);
      // One host's training files may lack the tokenizer; the validation set then says it.
      if (!loaded.tokenizer) loaded.tokenizer = shards->tokenizer();
      loaded.validation = shards;
    } else {
      validation = data::loadDataset(val, data::Split::kValidation, options);
    }
  } else if (train) {
    std::tie(*train, validation) =
        data::splitOffValidation(*train, config.valFraction, config.seed);
  } else {
    data::SplitRows split = data::validationSplit(loaded.train->size(), config.valFraction,
                                                  config.seed, loaded.train->source());
    const std::string source = loaded.train->source();
    loaded.validation =
        data::rowSubset(loaded.train, std::move(split.validation), source + " (validation split)");
    loaded.train = data::rowSubset(loaded.train, std::move(split.train), source + " (train split)");
  }

  const int64_t numClasses = config.numClasses > 0 ? config.numClasses
                             : train               ? train->numClasses
                                                   : loaded.train->numClasses();
  if (validation && labelsMatter) checkLabels(*validation, numClasses, "--val");
  if (train && standardizesInMemory(config, *train, synthetic) && config.valSpec == kNoValidation) {
    loaded.standardization = data::standardize(*train);
  } else if (train && standardizesInMemory(config, *train, synthetic)) {
    RINGTRAIN_USER_CHECK(validation, "--val " << config.valSpec
                                              << " is a shard data set and --train is not: "
                                                 "standardised features need both alike "
                                                 "(convert both with ringtrain prep, or pass "
                                                 "--normalize none)");
    // Before the statistics of one are applied to the other.
    checkSameSamples(train->sampleShape(), train->source, validation->sampleShape(),
                     validation->source);
    loaded.standardization = data::standardize(*train, *validation);
  }
  RINGTRAIN_USER_CHECK(!shardStatistics || !validation || config.valSpec == kNoValidation,
                       "--train " << config.trainSpec
                                  << " is a shard data set and --val is not: standardised "
                                     "features need both alike (convert both with ringtrain "
                                     "prep, or pass --normalize none)");
  if (shardStatistics) loaded.standardization = shardStatistics;
  if (train) loaded.train = data::inMemorySource(std::move(*train));
  if (validation) loaded.validation = data::inMemorySource(std::move(*validation));

  loaded.numClasses = config.numClasses > 0 ? config.numClasses : loaded.train->numClasses();
  if (labelsMatter) {
    checkClassCount(*loaded.train, loaded.numClasses, "--train");
    if (loaded.validation) checkClassCount(*loaded.validation, loaded.numClasses, "--val");
  }
  if (loaded.validation) {
    checkSameSamples(loaded.train->sampleShape(), loaded.train->source(),
                     loaded.validation->sampleShape(), loaded.validation->source());
  }
  RINGTRAIN_USER_CHECK(loaded.train->size() >= ranksSharing,
                       "--train " << loaded.train->source() << " has " << loaded.train->size()
                                  << " samples, fewer than the " << ranksSharing << " ranks");
  RINGTRAIN_USER_CHECK(
      !config.dropLast ||
          data::samplesPerRank(loaded.train->size(), ranksSharing, true) >= config.batchSize,
      "--drop-last leaves no full batch: " << loaded.train->size() << " samples over "
                                           << ranksSharing << " ranks is less than --batch-size "
                                           << config.batchSize << " per rank");
  return loaded;
}

namespace {

// A model of one-dimensional input flattens what it reads (k-means centres of IDX images).
void checkModelInput(const std::vector<int64_t>& shape, const std::string& spec,
                     const std::vector<int64_t>& inputShape, const data::CsvOptions& csv,
                     bool csvTable) {
  const bool fits = shape == inputShape ||
                    (inputShape.size() == 1 && c10::multiply_integers(shape) == inputShape[0]);
  // One column too many in a table read without a label column: most likely its labels.
  const bool labelsAsFeature =
      csvTable && csv.labelColumn == data::kNoLabelColumn &&
      c10::multiply_integers(shape) == c10::multiply_integers(inputShape) + 1;
  RINGTRAIN_USER_CHECK(
      fits, "--data " << spec << " has samples of shape " << shapeText(shape)
                      << " but the model takes " << shapeText(inputShape)
                      << (labelsAsFeature ? " (with --label-column none every CSV column "
                                            "is read as a feature: name the label column "
                                            "if the table has one)"
                                          : ""));
}

// Training held out these rows (validationSplit); they are returned in the order of the data,
// so that a row of predictions can be matched with a row of the file.
std::vector<int64_t> heldOutRows(int64_t size, double fraction, uint64_t seed,
                                 const std::string& source) {
  std::vector<int64_t> rows = data::validationSplit(size, fraction, seed, source).validation;
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

std::shared_ptr<const data::SampleSource> loadEvaluationData(
    const std::string& spec, const data::CsvOptions& csv, uint64_t seed,
    const std::vector<int64_t>& inputShape,
    const std::optional<data::FeatureStatistics>& standardization,
    std::optional<double> heldOutFraction) {
  // A token model's input is its window.
  const int64_t context = inputShape.size() == 1 ? inputShape[0] : 1;
  const data::DataSpec parsed = data::parseDataSpec(spec);
  if (parsed.format == data::DataFormat::kShards) {
    data::ShardOpenOptions options;
    options.context = context;
    // The shape is checked before the statistics are applied, as for data read into memory.
    std::shared_ptr<const data::SampleSource> all =
        data::ShardedDataset::open(parsed.location, options);
    checkModelInput(all->sampleShape(), spec, inputShape, csv, false);
    if (standardization) {
      options.standardizeWith = standardization;
      all = data::ShardedDataset::open(parsed.location, options);
    }
    if (!heldOutFraction) return all;
    return data::rowSubset(all, heldOutRows(all->size(), *heldOutFraction, seed, all->source()),
                           all->source() + " (validation split)");
  }
  data::LoadOptions options;
  options.csv = csv;
  options.seed = seed;
  // The rows training held out come from the data set as --train reads it.
  data::Dataset dataset = data::loadDataset(
      parsed, heldOutFraction ? data::Split::kTrain : data::Split::kValidation, options);
  if (heldOutFraction) {
    const at::Tensor rows =
        at::tensor(heldOutRows(dataset.size(), *heldOutFraction, seed, dataset.source), at::kLong);
    dataset.features = dataset.features.index_select(0, rows);
    dataset.labels = dataset.labels.index_select(0, rows);
    dataset.source += " (validation split)";
  }
  // Before standardising, whose own check would not name the likelier mistake.
  const bool csvTable = parsed.format == data::DataFormat::kCsv;
  checkModelInput(dataset.sampleShape(), spec, inputShape, csv, csvTable);
  if (standardization) data::applyStandardization(dataset, *standardization);
  return data::inMemorySource(std::move(dataset));
}

int64_t trainTokensPerSample(const TrainingData& data) {
  return data.train ? data.train->targetLength() : 0;
}

bool validatesLanguageModel(const TrainingData& data, const TrainHooks& hooks) {
  return data.validation && data.validation->targetLength() > 0 && !hooks.loss && !hooks.target;
}

}  // namespace ringtrain::train

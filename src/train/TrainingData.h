// Loading the training and validation sets named by the config, with the checks a user needs:
// label ranges, matching sample shapes, enough samples for the ranks and the batch size.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/SampleSource.h"
#include "ringtrain/data/Dataset.h"
#include "ringtrain/train/TrainConfig.h"
#include "ringtrain/train/Trainer.h"
#include "text/Tokenizer.h"

namespace ringtrain::train {

struct TrainingData {
  std::shared_ptr<const data::SampleSource> train;       // null when training reads a stream
  std::optional<std::string> trainStream;                // pipe:PREFIX: PREFIX
  std::shared_ptr<const data::SampleSource> validation;  // null with --val none
  int64_t numClasses = 0;
  // When the features were standardised: the training set's statistics, which a saved model
  // keeps so that it is scored on data prepared the same way.
  std::optional<data::FeatureStatistics> standardization;
  // A token data set's tokenizer, which a saved language model keeps for `ringtrain generate`.
  std::optional<text::TokenizerRecord> tokenizer;
  // What looks wrong but may be meant (an implausible class count), for the log.
  std::vector<std::string> warnings;
};

// The tokens of a training window; 0 unless the training data is a token data set.
int64_t trainTokensPerSample(const TrainingData& data);
// Whether validation is next-token cross-entropy on token windows (at every position or the
// last): the built-in loss on token validation data. Perplexity and bits per token mean something.
bool validatesLanguageModel(const TrainingData& data, const TrainHooks& hooks);

// --val none: train on every sample and validate nothing.
constexpr const char* kNoValidation = "none";

// `ranksSharing`: how many ranks deal out the training samples between them (all ranks, or
// those of one host when each host has its own files).
TrainingData loadTrainingData(const TrainConfig& config, int ranksSharing);

// One data set read as --val reads it (synthetic data: its validation split of `seed`; token
// shards: windows of a token model's input), standardised with `standardization` when given:
// what a saved model taking samples of `inputShape` is run on. With `heldOutFraction`, the data
// set is read as --train reads it instead, and only the rows that training with that
// --val-fraction and `seed` held out are returned. UserError naming --data when the samples are
// not of `inputShape` (compared flattened when that is one-dimensional).
std::shared_ptr<const data::SampleSource> loadEvaluationData(
    const std::string& spec, const data::CsvOptions& csv, uint64_t seed,
    const std::vector<int64_t>& inputShape,
    const std::optional<data::FeatureStatistics>& standardization,
    std::optional<double> heldOutFraction = std::nullopt);

}  // namespace ringtrain::train

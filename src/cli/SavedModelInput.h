// What `ringtrain eval` and `ringtrain predict` share: the flags naming a saved model and the data
// to run it on, reading that data as training read it (the same standardisation, the same split),
// and running the model over it one batch at a time.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cxxopts.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/SampleSource.h"
#include "ringtrain/data/Dataset.h"
#include "train/ModelFile.h"

namespace ringtrain::cli {

// --model, --data, --split, --val-fraction, --csv-header, --label-column (default
// `labelColumnDefault`), --seed, --normalize, --batch-size, --device.
void addSavedModelFlags(cxxopts::Options& options, const char* labelColumnDefault);

struct SavedModelInput {
  std::string modelPath;
  std::string dataSpec;
  data::CsvOptions csv;
  bool heldOut = false;               // --split validation
  std::optional<double> valFraction;  // --val-fraction, when given
  std::optional<uint64_t> seed;       // --seed, when given
  bool standardize = true;            // --normalize auto
  int64_t batchSize = 1024;
  c10::Device device = c10::kCPU;
};

// UserError naming the flag; `labelsNeeded`: --label-column none is refused (eval scores labels).
SavedModelInput parseSavedModelFlags(const cxxopts::ParseResult& flags, bool labelsNeeded);

// The data set, read as training read it and standardised with `standardization` (when
// --normalize auto; token shards in windows of a token model's input). The seed and the share
// held out are the flags', else those the model file records (`recorded`), else 42 and 0.1.
// UserError when it is empty or its samples are not `inputShape`, and for --split validation
// when the flags contradict the record or training held out nothing of its data, or when the
// data set's tokens come from another tokenizer than `tokenizer`, the model's.
std::shared_ptr<const data::SampleSource> loadModelData(
    const SavedModelInput& input, const std::vector<int64_t>& inputShape,
    const std::optional<data::FeatureStatistics>& standardization,
    const std::optional<train::DataSplit>& recorded,
    const std::optional<text::TokenizerRecord>& tokenizer = std::nullopt);

// --device (auto, cpu or cuda) as the device a saved model runs on.
c10::Device modelDevice(const cxxopts::ParseResult& flags);

// Calls `use` with every batch of the data set in order, its features on the input's device (the
// labels as the data set gives them: [n], or [n, L] for token windows).
void forEachBatch(
    const SavedModelInput& input, const std::shared_ptr<const data::SampleSource>& dataset,
    const std::function<void(const at::Tensor& features, const at::Tensor& labels)>& use);

}  // namespace ringtrain::cli

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

#include "ringtrain/data/Dataset.h"
#include "ringtrain/data/FeatureStatistics.h"
#include "ringtrain/data/SampleSource.h"

namespace ringtrain::cli {

// --model, --data, --split, --val-fraction, --csv-header, --label-column (default
// `labelColumnDefault`), --seed, --normalize, --batch-size, --device.
void addSavedModelFlags(cxxopts::Options& options, const char* labelColumnDefault);

struct SavedModelInput {
  std::string modelPath;
  std::string dataSpec;
  data::CsvOptions csv;
  uint64_t seed = 42;
  std::optional<double> heldOutFraction;  // --split validation
  bool standardize = true;                // --normalize auto
  int64_t batchSize = 1024;
  c10::Device device = c10::kCPU;
};

// UserError naming the flag; `labelsNeeded`: --label-column none is refused (eval scores labels).
SavedModelInput parseSavedModelFlags(const cxxopts::ParseResult& flags, bool labelsNeeded);

// The data set, read as training read it and standardised with `standardization` (when
// --normalize auto; token shards in windows of a token model's input). UserError when it is
// empty or its samples are not `inputShape`.
std::shared_ptr<const data::SampleSource> loadModelData(
    const SavedModelInput& input, const std::vector<int64_t>& inputShape,
    const std::optional<data::FeatureStatistics>& standardization);

// Calls `use` with every batch of the data set in order, its features on the input's device.
void forEachBatch(
    const SavedModelInput& input, const std::shared_ptr<const data::SampleSource>& dataset,
    const std::function<void(const at::Tensor& features, const at::Tensor& labels)>& use);

}  // namespace ringtrain::cli

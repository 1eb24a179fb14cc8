#include "SavedModelInput.h"

#include <c10/core/GradMode.h>

#include <iostream>

#include "data/BatchPrefetcher.h"
#include "data/DataSpec.h"
#include "data/ShardedDataset.h"
#include "flags/FlagGroups.h"
#include "flags/FlagValues.h"
#include "platform/Placement.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/util/Error.h"
#include "train/TrainingData.h"
#include "util/Numbers.h"

namespace ringtrain::cli {

void addSavedModelFlags(cxxopts::Options& options, const char* labelColumnDefault) {
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  options.add_options()("model", "the model file a ringtrain job wrote",
                        cxxopts::value<std::string>(), "FILE")(
      "data",
      "the data set: shards:DIR, csv:PATH, idx:DIR (its t10k-* files) or synthetic:N "
      "(its validation stream), read as --val reads it unless --split says otherwise",
      cxxopts::value<std::string>(), "SPEC")(
      "split",
      "all (every sample of --data) or validation (the rows training held out of --data, as "
      "the model file records; idx:DIR then reads its train-* files)",
      text("all"), "ROWS")("val-fraction",
                           "--split validation: the --val-fraction training used (absent: what "
                           "the model file records)",
                           cxxopts::value<std::string>(), "F")(
      "seed",
      "the --seed training used, for synthetic data and --split validation (absent: what the "
      "model file records, else 42)",
      cxxopts::value<std::string>(),
      "N")("normalize",
           "auto (standardise as training did, with the statistics the model file holds) or none",
           text("auto"), "MODE")("batch-size", "samples per forward pass", text("1024"), "N")(
      "device", "cpu, cuda or auto", text("auto"), "DEVICE");
  flags::addCsvFlags(options, "", "CSV: 0-based column of the label, or none", labelColumnDefault);
}

SavedModelInput parseSavedModelFlags(const cxxopts::ParseResult& flags, bool labelsNeeded) {
  RINGTRAIN_USER_CHECK(flags.count("model"), "--model is required (a model.safetensors)");
  RINGTRAIN_USER_CHECK(flags.count("data"), "--data is required (the data set to run it on)");
  SavedModelInput input;
  input.modelPath = flags["model"].as<std::string>();
  input.dataSpec = flags["data"].as<std::string>();
  input.batchSize = flags::parseInteger("batch-size", flags["batch-size"].as<std::string>());
  RINGTRAIN_USER_CHECK(input.batchSize > 0 && input.batchSize <= (int64_t{1} << 24),
                       "--batch-size must be between 1 and 16777216");
  input.standardize = flags::parseChoice("normalize", flags["normalize"].as<std::string>(),
                                         {"auto", "none"}) == "auto";
  if (flags.count("seed"))
    input.seed = flags::parseUnsigned("seed", flags["seed"].as<std::string>());
  input.heldOut = flags::parseChoice("split", flags["split"].as<std::string>(),
                                     {"all", "validation"}) == "validation";
  if (flags.count("val-fraction")) {
    RINGTRAIN_USER_CHECK(input.heldOut, "--val-fraction applies to --split validation only");
    const double fraction =
        flags::parseReal("val-fraction", flags["val-fraction"].as<std::string>());
    RINGTRAIN_USER_CHECK(fraction > 0 && fraction < 1, "--val-fraction must be in (0, 1)");
    input.valFraction = fraction;
  }
  const std::string labelColumn = flags["label-column"].as<std::string>();
  RINGTRAIN_USER_CHECK(!labelsNeeded || labelColumn != "none",
                       "--label-column none: eval scores predictions against labels; for data "
                       "without labels, ringtrain predict writes the predictions");
  input.csv = flags::readCsvFlags(flags, !labelsNeeded);
  input.device = modelDevice(flags);
  return input;
}

c10::Device modelDevice(const cxxopts::ParseResult& flags) {
  const std::string device =
      flags::parseChoice("device", flags["device"].as<std::string>(), {"auto", "cpu", "cuda"});
  if (device == "cpu") return c10::kCPU;
  if (platform::visibleGpuCount() > 0) return c10::Device(c10::kCUDA, 0);
  const std::optional<std::string> unusable = platform::unusableGpus();
  RINGTRAIN_USER_CHECK(device != "cuda",
                       "--device cuda: " << unusable.value_or("no GPU is visible"));
  if (unusable) std::cerr << "ringtrain: WARNING: " << *unusable << "; using the CPU" << std::endl;
  return c10::kCPU;
}

std::shared_ptr<const data::SampleSource> loadModelData(
    const SavedModelInput& input, const std::vector<int64_t>& inputShape,
    const std::optional<data::FeatureStatistics>& standardization,
    const std::optional<train::DataSplit>& recorded,
    const std::optional<text::TokenizerRecord>& tokenizer) {
  const data::DataSpec parsed = data::parseDataSpec(input.dataSpec);
  if (tokenizer && parsed.format == data::DataFormat::kShards) {
    data::ShardOpenOptions options;
    options.context = inputShape.size() == 1 ? inputShape[0] : 1;
    const auto ids = data::ShardedDataset::open(parsed.location, options)->tokenizer();
    RINGTRAIN_USER_CHECK(!ids || *ids == *tokenizer,
                         "--data " << input.dataSpec << " was tokenized with another tokenizer ("
                                   << ids->kind << ") than " << input.modelPath
                                   << " was trained on (" << tokenizer->kind << ")");
  }
  const uint64_t seed = input.seed.value_or(recorded ? recorded->seed : 42);
  std::optional<double> heldOut;
  if (input.heldOut) {
    RINGTRAIN_USER_CHECK(
        !recorded || recorded->heldOutFraction,
        "--split validation: " << input.modelPath
                               << " held out no rows of its data that can be found again (it was "
                                  "validated on a --val data set, on nothing, or on rows each host "
                                  "held out of its own files; k-means holds nothing out)");
    RINGTRAIN_USER_CHECK(recorded || input.valFraction,
                         "--split validation: " << input.modelPath
                                                << " does not record which rows its training "
                                                   "held out: give the --val-fraction and --seed "
                                                   "it was trained with");
    const std::optional<double> recordedFraction =
        recorded ? recorded->heldOutFraction : std::nullopt;
    RINGTRAIN_USER_CHECK(
        !input.valFraction || !recordedFraction || *input.valFraction == *recordedFraction,
        "--val-fraction " << shortestText(input.valFraction.value_or(0)) << ": " << input.modelPath
                          << " held out " << shortestText(recordedFraction.value_or(0))
                          << " of its training data; leave the flag out");
    RINGTRAIN_USER_CHECK(!input.seed || !recorded || *input.seed == recorded->seed,
                         "--seed " << *input.seed << ": " << input.modelPath
                                   << " was trained with --seed " << recorded->seed
                                   << ", which chose the rows it held out; leave the flag out");
    heldOut = input.valFraction ? input.valFraction : recordedFraction;
  }
  const auto dataset =
      train::loadEvaluationData(input.dataSpec, input.csv, seed, inputShape,
                                input.standardize ? standardization : std::nullopt, heldOut);
  RINGTRAIN_USER_CHECK(dataset->size() > 0, "--data " << input.dataSpec << " holds no samples");
  return dataset;
}

void forEachBatch(
    const SavedModelInput& input, const std::shared_ptr<const data::SampleSource>& dataset,
    const std::function<void(const at::Tensor& features, const at::Tensor& labels)>& use) {
  c10::NoGradGuard noGrad;
  data::BatchPrefetcher batches(dataset, data::evaluationIndices(dataset->size(), 1, 0),
                                input.batchSize, data::PrefetchOptions{});
  for (int64_t b = 0; b < batches.batches(); ++b) {
    const data::Batch batch = batches.next();
    use(batch.features.to(input.device), batch.labels);
  }
}

}  // namespace ringtrain::cli

// ringtrain eval: scores a model.safetensors written by `ringtrain train` on a data set, in one
// process: the loss and accuracy, and optionally every sample's logits as .npy.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "FlagValues.h"
#include "ringtrain/cli/Commands.h"
#include "ringtrain/data/BatchPrefetcher.h"
#include "ringtrain/data/DistributedSampler.h"
#include "ringtrain/io/Npy.h"
#include "ringtrain/platform/Placement.h"
#include "ringtrain/train/ModelFile.h"
#include "ringtrain/train/RunLog.h"
#include "ringtrain/train/TrainingData.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

namespace ringtrain::cli {

int runEval(int argc, char** argv) {
  cxxopts::Options options("ringtrain eval",
                           "Score a model.safetensors written by ringtrain train on a data set: "
                           "loss and accuracy, and optionally every sample's logits. The model is "
                           "rebuilt from the file alone (built-in models and --model-spec "
                           "networks), and features are standardised as training did.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  options.add_options()("model", "the model.safetensors to score", cxxopts::value<std::string>(),
                        "FILE")(
      "data",
      "the data set: shards:DIR, csv:PATH, idx:DIR (its t10k-* files) or synthetic:N "
      "(its validation split)",
      cxxopts::value<std::string>(), "SPEC")("csv-header", "CSV files start with a header line")(
      "label-column", "CSV: 0-based column of the label", text("0"), "N")(
      "seed", "synthetic data: the seed training used", text("42"), "N")(
      "normalize",
      "auto (standardise as training did, with the statistics the model file holds) or none",
      text("auto"), "MODE")("batch-size", "samples per forward pass", text("1024"), "N")(
      "device", "cpu, cuda or auto", text("auto"), "DEVICE")(
      "predictions", "write every sample's logits here, float32 [samples, classes]",
      cxxopts::value<std::string>(),
      "FILE.npy")("output", "write the scores here as JSON", cxxopts::value<std::string>(),
                  "FILE.json")("h,help", "show this help");
  const cxxopts::ParseResult flags = parseFlags(options, argc, argv);
  if (flags.count("help")) {
    std::cout << options.help();
    return 0;
  }
  RINGTRAIN_USER_CHECK(flags.count("model"), "--model is required (a model.safetensors)");
  RINGTRAIN_USER_CHECK(flags.count("data"), "--data is required (the data set to score on)");
  const std::string modelPath = flags["model"].as<std::string>();
  const std::string dataSpec = flags["data"].as<std::string>();
  const int64_t batchSize = parseInteger("batch-size", flags["batch-size"].as<std::string>());
  RINGTRAIN_USER_CHECK(batchSize > 0, "--batch-size must be positive");
  const bool standardize =
      parseChoice("normalize", flags["normalize"].as<std::string>(), {"auto", "none"}) == "auto";
  const std::string device =
      parseChoice("device", flags["device"].as<std::string>(), {"auto", "cpu", "cuda"});
  RINGTRAIN_USER_CHECK(device != "cuda" || platform::visibleGpuCount() > 0,
                       "--device cuda: no GPU is visible");
  const c10::Device where = device == "cpu" || platform::visibleGpuCount() == 0
                                ? c10::Device(c10::kCPU)
                                : c10::Device(c10::kCUDA, 0);

  train::SavedModel saved = train::loadSavedModel(modelPath);
  data::CsvOptions csv;
  csv.header = flags.count("csv-header") > 0;
  csv.labelColumn = parseLabelColumn(flags["label-column"].as<std::string>(), false);
  const models::ModelSpec& spec = saved.spec;
  RINGTRAIN_USER_CHECK(spec.kind != "autoencoder",
                       modelPath << " is an autoencoder: ringtrain eval scores classifiers (the "
                                    "training run's summary.json has its reconstruction error)");
  // A token model's input is its window.
  const int64_t context = spec.inputShape.size() == 1 ? spec.inputShape[0] : 1;
  const auto dataset = train::loadEvaluationData(
      dataSpec, csv, parseUnsigned("seed", flags["seed"].as<std::string>()), context,
      standardize ? saved.standardization : std::nullopt);
  RINGTRAIN_USER_CHECK(dataset->size() > 0, "--data " << dataSpec << " holds no samples");
  RINGTRAIN_USER_CHECK(dataset->sampleShape() == spec.inputShape,
                       "--data " << dataSpec << " has samples of shape "
                                 << c10::IntArrayRef(dataset->sampleShape())
                                 << " but the model takes " << c10::IntArrayRef(spec.inputShape));
  RINGTRAIN_USER_CHECK(dataset->numClasses() <= spec.numClasses,
                       "--data " << dataSpec << " has labels up to " << dataset->numClasses() - 1
                                 << " but the model knows the classes 0.." << spec.numClasses - 1);

  c10::NoGradGuard noGrad;
  models::Classifier& model = *saved.model;
  model.to(where);
  model.eval();
  data::BatchPrefetcher batches(dataset, data::evaluationIndices(dataset->size(), 1, 0), batchSize,
                                data::PrefetchOptions{});
  std::vector<at::Tensor> logits;
  double lossSum = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < batches.batches(); ++b) {
    const data::Batch batch = batches.next();
    const at::Tensor output = model.forward(batch.features.to(where)).to(at::kCPU, at::kFloat);
    lossSum += at::cross_entropy_loss(output, batch.labels, {}, at::Reduction::Sum).item<double>();
    correct += output.argmax(1).eq(batch.labels).sum().item<int64_t>();
    if (flags.count("predictions")) logits.push_back(output);
  }
  const int64_t samples = dataset->size();
  nlohmann::ordered_json scores{{"model", modelPath},
                                {"data", dataSpec},
                                {"samples", samples},
                                {"loss", lossSum / static_cast<double>(samples)},
                                {"accuracy", static_cast<double>(correct) / samples},
                                {"standardized", standardize && saved.standardization}};
  if (flags.count("predictions")) {
    io::saveNpy(flags["predictions"].as<std::string>(), at::cat(logits));
  }
  if (flags.count("output")) {
    writeFileAtomically(flags["output"].as<std::string>(), scores.dump(2) + "\n");
  }
  std::cout << "eval: "
            << train::formatKeyValues(nlohmann::ordered_json{{"samples", samples},
                                                             {"loss", scores["loss"]},
                                                             {"accuracy", scores["accuracy"]}})
            << std::endl;
  return 0;
}

}  // namespace ringtrain::cli

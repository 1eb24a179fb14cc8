// ringtrain eval: scores a model.safetensors written by `ringtrain train` on a data set, in one
// process: the loss and accuracy, and optionally every sample's logits.
#include <ATen/ATen.h>

#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "SavedModelInput.h"
#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "io/JobOutputs.h"
#include "io/Table.h"
#include "ringtrain/util/Error.h"
#include "train/ModelFile.h"
#include "train/Objective.h"

namespace ringtrain::cli {

int runEval(int argc, char** argv) {
  cxxopts::Options options("ringtrain eval",
                           "Score a model.safetensors written by ringtrain train on a data set: "
                           "loss and accuracy, and optionally every sample's logits. The model is "
                           "rebuilt from the file alone (built-in models and --model-spec "
                           "networks), and features are standardised as training did. For data "
                           "without labels, ringtrain predict writes the predictions.");
  addSavedModelFlags(options, "0");
  options.add_options()("predictions",
                        "write every sample's logits here: .csv (logit_0, ...) or .npy (float32 "
                        "[samples, classes])",
                        cxxopts::value<std::string>(), "FILE")(
      "output", "write the scores here as JSON", cxxopts::value<std::string>(), "FILE.json")(
      "h,help", "show this help");
  const cxxopts::ParseResult flags = flags::parseFlags(options, argc, argv);
  if (flags.count("help")) {
    std::cout << options.help();
    return 0;
  }
  const SavedModelInput input = parseSavedModelFlags(flags, /*labelsNeeded=*/true);
  const std::string predictionsPath =
      flags.count("predictions") ? flags["predictions"].as<std::string>() : "";
  if (!predictionsPath.empty()) io::checkTablePath("predictions", predictionsPath);

  train::SavedModel saved = train::loadSavedModel(input.modelPath);
  const models::ModelSpec& spec = saved.spec;
  RINGTRAIN_USER_CHECK(spec.kind != models::ModelKind::kAutoencoder,
                       input.modelPath
                           << " is an autoencoder: ringtrain eval scores classifiers (the training "
                              "run's summary.json has its reconstruction error; ringtrain predict "
                              "writes its codes)");
  const auto dataset =
      loadModelData(input, spec.inputShape, saved.standardization, saved.split, saved.tokenizer);
  RINGTRAIN_USER_CHECK(dataset->numClasses() <= spec.numClasses,
                       "--data " << input.dataSpec << " has labels up to "
                                 << dataset->numClasses() - 1
                                 << " but the model knows the classes 0.." << spec.numClasses - 1);

  models::Classifier& model = *saved.model;
  RINGTRAIN_USER_CHECK(!model.predictsEveryPosition() || dataset->targetLength() > 0,
                       input.modelPath << " predicts the next token at every position, but --data "
                                       << input.dataSpec
                                       << " is not a token data set: it has one label per sample");
  model.to(input.device);
  model.eval();
  // As training scores its validation set: every position of a language model's windows.
  const train::TrainHooks builtIn;
  const train::Objective objective(builtIn, model.predictsEveryPosition());
  std::vector<at::Tensor> logits;
  double lossSum = 0;
  int64_t correct = 0;
  int64_t units = 0;
  forEachBatch(input, dataset, [&](const at::Tensor& features, const at::Tensor& labels) {
    const at::Tensor output = model.forward(features).to(at::kCPU, at::kFloat);
    const at::Tensor targets = objective.targetsOf(labels);
    lossSum += objective.lossSum(output, targets).item<double>();
    correct += objective.correct(output, targets).item<int64_t>();
    units += objective.units(targets);
    // A table row per sample: a language model's prediction of the token after the window.
    if (!predictionsPath.empty())
      logits.push_back(output.dim() == 3 ? output.select(1, output.size(1) - 1).clone() : output);
  });
  const int64_t samples = dataset->size();
  nlohmann::ordered_json scores{{"model", input.modelPath},
                                {"data", input.dataSpec},
                                {"split", input.heldOut ? "validation" : "all"},
                                {"samples", samples},
                                {"loss", lossSum / static_cast<double>(units)},
                                {"accuracy", static_cast<double>(correct) / units},
                                {"standardized", input.standardize && saved.standardization}};
  // Next-token cross-entropy: per token in nats, so perplexity and bits per token follow.
  const bool tokens = dataset->targetLength() > 0;
  if (tokens) {
    const double loss = scores["loss"].get<double>();
    scores["tokens"] = units;
    scores["perplexity"] = train::perplexityOf(loss);
    scores["bits_per_token"] = train::bitsPerTokenOf(loss);
  }
  io::JobOutputs outputs;
  if (!predictionsPath.empty()) {
    io::saveTable(predictionsPath, at::cat(logits), io::numberedColumns("logit_", spec.numClasses));
    outputs.artifacts.push_back(predictionsPath);
  }
  if (flags.count("output")) outputs.summaryPath = flags["output"].as<std::string>();
  outputs.figures = {
      {"samples", samples}, {"loss", scores["loss"]}, {"accuracy", scores["accuracy"]}};
  if (tokens) outputs.figures["bits_per_token"] = scores["bits_per_token"];
  outputs.summary = std::move(scores);
  io::finishJob(outputs,
                [](const std::string& line) { std::cout << "eval: " << line << std::endl; });
  return 0;
}

}  // namespace ringtrain::cli

// ringtrain predict: runs a saved model over a data set, labelled or not, in one process and
// writes what it makes of every sample as a table (Predictor.h says which columns).
#include <ATen/ATen.h>

#include <cxxopts.hpp>
#include <iostream>

#include "Predictor.h"
#include "SavedModelInput.h"
#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "io/Table.h"

namespace ringtrain::cli {

int runPredict(int argc, char** argv) {
  cxxopts::Options options(
      "ringtrain predict",
      "Run a saved model over a data set and write one row per sample: a classifier's class and "
      "probabilities, an autoencoder's code, or the k-means cluster (--model centres.safetensors) "
      "and its squared distance. Features are standardised as training did. CSV tables are read "
      "without a label column unless --label-column names one.");
  addSavedModelFlags(options, "none");
  options.add_options()("output",
                        "where the table goes: .csv (a header line, then one line per sample) "
                        "or .npy (float32 [samples, columns])",
                        cxxopts::value<std::string>()->default_value("predictions.csv"),
                        "FILE")("h,help", "show this help");
  const cxxopts::ParseResult flags = flags::parseFlags(options, argc, argv);
  if (flags.count("help")) {
    std::cout << options.help();
    return 0;
  }
  const SavedModelInput input = parseSavedModelFlags(flags, /*labelsNeeded=*/false);
  const std::string outputPath = flags["output"].as<std::string>();
  io::checkTablePath("output", outputPath);

  const Predictor predictor = loadPredictor(input.modelPath, input.device);
  const auto dataset = loadModelData(input, predictor.inputShape, predictor.standardization,
                                     predictor.split, predictor.tokenizer);
  std::vector<at::Tensor> rows;
  forEachBatch(input, dataset, [&](const at::Tensor& features, const at::Tensor&) {
    rows.push_back(predictor.predict(features));
  });
  io::saveTable(outputPath, at::cat(rows), predictor.columns);
  // At most five names: the first three, then the last.
  const std::vector<std::string>& names = predictor.columns;
  std::string columns;
  for (size_t c = 0; c < names.size(); ++c) {
    if (names.size() > 5 && c == 3) columns += ", ...";
    if (names.size() > 5 && c >= 3 && c + 1 < names.size()) continue;
    columns += (c ? ", " : "") + names[c];
  }
  std::cout << "predict: " << dataset->size() << " samples through the " << predictor.describes
            << " -> " << outputPath << " (" << columns << ")" << std::endl;
  return 0;
}

}  // namespace ringtrain::cli

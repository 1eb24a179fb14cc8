// ringtrain pca: principal components over the ranks of an mpirun job (unsupervised/Pca.h).
// Rank 0 writes pca.safetensors and a summary.json.
#include <ATen/ATen.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "StatisticsJob.h"
#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "io/JobOutputs.h"
#include "io/Safetensors.h"
#include "launch/Command.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "unsupervised/Pca.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

std::vector<double> valuesOf(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

struct PcaSettings {
  StatisticsInput input;
  int64_t components = 0;
  bool whiten = false;
};

cxxopts::Options pcaFlags() {
  cxxopts::Options options(
      "ringtrain pca",
      "Principal component analysis over the ranks of an mpirun job, in one pass: every rank "
      "sums its rows into a count, a mean and a scatter matrix, the ranks merge them, and the "
      "components are the top eigenvectors of the covariance.");
  addStatisticsFlags(options, "runs/pca");
  options.add_options("PCA")("components", "how many components to keep",
                             cxxopts::value<std::string>()->default_value("10"), "C")(
      "whiten", "scale each component to unit variance in the saved projection");
  return options;
}

// Fits on every rank; rank 0 writes the model and the summary.
int fit(comm::Communicator& control, const PcaSettings& settings) {
  const StatisticsInput& input = settings.input;
  const auto started = std::chrono::steady_clock::now();
  const unsupervised::PcaModel model = unsupervised::runPca(
      *input.data, control, settings.components, settings.whiten, input.batchRows);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  comm::runOnAllRanks(control, [&] {
    if (control.rank() != 0) return;
    const std::string modelPath = input.outputDir + "/pca.safetensors";
    io::saveSafetensors(modelPath,
                        {{"mean", model.mean},
                         {"components", model.components},
                         {"projection", model.projection()},
                         {"explained_variance", model.explainedVariance},
                         {"explained_variance_ratio", model.explainedVarianceRatio},
                         {"singular_values", model.singularValues}},
                        {{"whiten", settings.whiten ? "true" : "false"}, {"data", input.spec}});
    const double kept = model.explainedVarianceRatio.sum().item<double>();
    const nlohmann::ordered_json summary{
        {"data", input.spec},
        {"samples", model.samples},
        {"features", model.mean.size(0)},
        {"components", settings.components},
        {"whiten", settings.whiten},
        {"world_size", control.size()},
        {"passes", 1},
        {"seconds", seconds},
        {"total_variance", model.totalVariance},
        {"explained_variance", valuesOf(model.explainedVariance)},
        {"explained_variance_ratio", valuesOf(model.explainedVarianceRatio)},
        {"explained_variance_ratio_sum", kept}};
    const nlohmann::ordered_json figures{{"samples", model.samples},
                                         {"features", model.mean.size(0)},
                                         {"components", settings.components},
                                         {"explained_variance_ratio_sum", kept},
                                         {"seconds", seconds}};
    io::finishJob({input.outputDir + "/summary.json", summary, figures, {modelPath}},
                  [](const std::string& line) { std::cout << "pca: " << line << std::endl; });
  });
  return 0;
}

}  // namespace

int runPca(int argc, char** argv) {
  PcaSettings settings;
  const auto parse = [&](launch::RankProcess& process) {
    cxxopts::Options options = pcaFlags();
    const cxxopts::ParseResult flags = flags::parseFlags(options, argc, argv);
    launch::CommandStart start;
    if (flags.count("help")) {
      start.help = options.help();
      return start;
    }
    settings.components = flags::parseInteger("components", flags["components"].as<std::string>());
    settings.whiten = flags.count("whiten") > 0;
    settings.input = loadStatisticsInput(flags);
    placeOnCpu(process.topology(), settings.input.rank.threads);
    if (process.topology().rank == 0) {
      ensureWritableDirectory(settings.input.outputDir, "--output-dir");
    }
    start.commTimeoutSeconds = settings.input.rank.commTimeoutSeconds;
    start.heartbeatTimeoutSeconds = settings.input.rank.heartbeatTimeoutSeconds;
    return start;
  };
  return launch::runCommand("ringtrain pca", argc, argv, parse, [&](launch::RankProcess& process) {
    return fit(process.control(), settings);
  });
}

}  // namespace ringtrain::cli

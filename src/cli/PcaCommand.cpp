// ringtrain pca: principal components over the ranks of an mpirun job (unsupervised/Pca.h).
// Rank 0 writes pca.safetensors and a summary.json.
#include <ATen/ATen.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "StatisticsJob.h"
#include "cli/Commands.h"
#include "flags/FlagValues.h"
#include "io/Safetensors.h"
#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "train/RunLog.h"
#include "unsupervised/Pca.h"
#include "util/Files.h"

namespace ringtrain::cli {
namespace {

std::vector<double> valuesOf(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

}  // namespace

int runPca(int argc, char** argv) {
  return runStatisticsJob("pca", argc, argv, [&](comm::Communicator& control) {
    cxxopts::Options options(
        "ringtrain pca",
        "Principal component analysis over the ranks of an mpirun job, in one pass: every rank "
        "sums its rows into a count, a mean and a scatter matrix, the ranks merge them, and the "
        "components are the top eigenvectors of the covariance.");
    addStatisticsFlags(options, "runs/pca");
    options.add_options("PCA")("components", "how many components to keep",
                               cxxopts::value<std::string>()->default_value("10"), "C")(
        "whiten", "scale each component to unit variance in the saved projection");
    cxxopts::ParseResult flags;
    StatisticsInput input;
    int64_t components = 0;
    comm::runOnAllRanks(control, [&] {
      flags = flags::parseFlags(options, argc, argv);
      if (flags.count("help")) return;
      components = flags::parseInteger("components", flags["components"].as<std::string>());
      input = loadStatisticsInput(flags);
      placeOnCpu(control.topology(), input.threads);
      if (control.rank() == 0) ensureWritableDirectory(input.outputDir, "--output-dir");
    });
    if (flags.count("help")) {
      if (control.rank() == 0) std::cout << options.help();
      return 0;
    }
    const bool whiten = flags.count("whiten") > 0;
    const auto started = std::chrono::steady_clock::now();
    const unsupervised::PcaModel model =
        unsupervised::runPca(*input.data, control, components, whiten, input.batchRows);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    comm::runOnAllRanks(control, [&] {
      if (control.rank() != 0) return;
      io::saveSafetensors(input.outputDir + "/pca.safetensors",
                          {{"mean", model.mean},
                           {"components", model.components},
                           {"projection", model.projection()},
                           {"explained_variance", model.explainedVariance},
                           {"explained_variance_ratio", model.explainedVarianceRatio},
                           {"singular_values", model.singularValues}},
                          {{"whiten", whiten ? "true" : "false"}, {"data", input.spec}});
      const double kept = model.explainedVarianceRatio.sum().item<double>();
      const nlohmann::ordered_json summary{
          {"data", input.spec},
          {"samples", model.samples},
          {"features", model.mean.size(0)},
          {"components", components},
          {"whiten", whiten},
          {"world_size", control.size()},
          {"passes", 1},
          {"seconds", seconds},
          {"total_variance", model.totalVariance},
          {"explained_variance", valuesOf(model.explainedVariance)},
          {"explained_variance_ratio", valuesOf(model.explainedVarianceRatio)},
          {"explained_variance_ratio_sum", kept}};
      writeFileAtomically(input.outputDir + "/summary.json", summary.dump(2) + "\n");
      std::cout << "pca: done "
                << train::formatKeyValues({{"samples", model.samples},
                                           {"features", model.mean.size(0)},
                                           {"components", components},
                                           {"explained_variance_ratio_sum", kept},
                                           {"seconds", seconds}})
                << " (" << input.outputDir << "/pca.safetensors)" << std::endl;
    });
    return 0;
  });
}

}  // namespace ringtrain::cli

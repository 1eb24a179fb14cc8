// ringtrain kmeans: k-means over the ranks of an mpirun job (unsupervised/KMeans.h). Rank 0
// writes the centres as safetensors and a summary.json.
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
#include "unsupervised/KMeans.h"
#include "util/Files.h"
#include "util/NameTable.h"

namespace ringtrain::cli {
namespace {

const NameTable<unsupervised::KMeansAlgorithm>& kMeansAlgorithmNames() {
  static const NameTable<unsupervised::KMeansAlgorithm> names{
      {"onepass", unsupervised::KMeansAlgorithm::kOnePass},
      {"lloyd", unsupervised::KMeansAlgorithm::kLloyd}};
  return names;
}

cxxopts::Options kMeansFlags() {
  cxxopts::Options options(
      "ringtrain kmeans",
      "k-means clustering over the ranks of an mpirun job. onepass (default) reads the data "
      "once: every rank keeps a weighted summary of its rows, and the centres come from "
      "clustering the summaries. lloyd is the multi-pass baseline: k-means|| initialisation, "
      "then Lloyd iterations. A last pass measures the cost over the whole data set. Rank 0 "
      "clusters what the ranks gathered alone while they wait: --comm-timeout must cover it.");
  const auto text = [](const char* fallback) {
    return cxxopts::value<std::string>()->default_value(fallback);
  };
  addStatisticsFlags(options, "runs/kmeans");
  options.add_options("k-means")("k,clusters", "number of clusters", text("10"), "K")(
      "algorithm", choicesIn(kMeansAlgorithmNames()), text("onepass"), "NAME")(
      "max-iterations", "most Lloyd iterations (over the data for lloyd, the summary for onepass)",
      text("300"), "N")("tolerance",
                        "stop when the centres move less than this (summed squared movement, "
                        "relative to the mean feature variance)",
                        text("1e-4"),
                        "TOL")("init-rounds",
                               "lloyd: k-means|| rounds (more while there are fewer than k "
                               "candidates)",
                               text("5"), "R")(
      "oversampling", "lloyd: k-means|| draws about this many times k points per round", text("2"),
      "L")("summary-size",
           "onepass: weighted centres each rank keeps, at least 2 k (0: 10 k, at least 100)",
           text("0"), "R")(
      "restarts", "onepass: k-means++ and Lloyd runs on the gathered summaries", text("3"), "N")(
      "no-cost", "skip the last pass that measures the cost over the data");
  return options;
}

unsupervised::KMeansOptions parseKMeansOptions(const cxxopts::ParseResult& flags) {
  const auto integer = [&](const char* name) {
    return flags::parseInteger(name, flags[name].as<std::string>());
  };
  unsupervised::KMeansOptions options;
  options.clusters = integer("clusters");
  RINGTRAIN_USER_CHECK(options.clusters > 0 && options.clusters <= (int64_t{1} << 20),
                       "--clusters must be between 1 and 1048576");
  options.algorithm =
      valueNamed(kMeansAlgorithmNames(), "algorithm", flags["algorithm"].as<std::string>());
  options.maxIterations = integer("max-iterations");
  RINGTRAIN_USER_CHECK(options.maxIterations > 0, "--max-iterations must be positive");
  options.tolerance = flags::parseReal("tolerance", flags["tolerance"].as<std::string>());
  RINGTRAIN_USER_CHECK(options.tolerance >= 0, "--tolerance must not be negative");
  options.initRounds = integer("init-rounds");
  RINGTRAIN_USER_CHECK(options.initRounds >= 0 && options.initRounds <= 100,
                       "--init-rounds must be between 0 and 100");
  options.oversampling = flags::parseReal("oversampling", flags["oversampling"].as<std::string>());
  RINGTRAIN_USER_CHECK(options.oversampling > 0 && options.oversampling <= 100,
                       "--oversampling must be above 0 and at most 100");
  options.summarySize = integer("summary-size");
  // A full summary shrinks to three quarters of its size, which must still hold k centres.
  RINGTRAIN_USER_CHECK(options.summarySize == 0 || options.summarySize >= 2 * options.clusters,
                       "--summary-size " << options.summarySize
                                         << " must be at least twice --clusters "
                                         << options.clusters << " (or 0 for the default)");
  options.restarts = integer("restarts");
  RINGTRAIN_USER_CHECK(options.restarts > 0, "--restarts must be positive");
  options.measureCost = flags.count("no-cost") == 0;
  return options;
}

nlohmann::ordered_json summaryOf(const unsupervised::KMeansResult& result,
                                 const unsupervised::KMeansOptions& options,
                                 const StatisticsInput& input, int worldSize) {
  nlohmann::ordered_json summary{
      {"algorithm", nameOf(kMeansAlgorithmNames(), options.algorithm)},
      {"data", input.spec},
      {"samples", result.samples},
      {"features", result.centres.size(1)},
      {"clusters", options.clusters},
      {"world_size", worldSize},
      {"seed", input.seed},
      {"cost", result.cost ? nlohmann::json(*result.cost) : nlohmann::json(nullptr)},
      {"summary_cost", result.summaryCost},
      {"passes", result.passes},
      {"cost_pass", options.measureCost},
      {"iterations", result.iterations},
      {"relocated_clusters", result.relocatedClusters},
      {"fit_seconds", result.fitSeconds},
      {"cost_seconds", result.costSeconds}};
  if (options.algorithm == unsupervised::KMeansAlgorithm::kLloyd) {
    summary["init_candidates"] = result.initCandidates;
  } else {
    summary["summary_size"] = options.summarySize > 0
                                  ? options.summarySize
                                  : unsupervised::defaultSummarySize(options.clusters);
    summary["summary_clusters"] = result.summaryClusters;
    summary["restarts"] = options.restarts;
  }
  if (result.clusterSizes.defined()) {
    const int64_t* sizes = result.clusterSizes.data_ptr<int64_t>();
    summary["cluster_sizes"] = std::vector<int64_t>(sizes, sizes + result.clusterSizes.numel());
  }
  return summary;
}

// Clusters on every rank; rank 0 writes the centres and the summary.
int cluster(comm::Communicator& control, const StatisticsInput& input,
            const unsupervised::KMeansOptions& kmeans) {
  const auto say = [](const std::string& line) { std::cout << "kmeans: " << line << std::endl; };
  const unsupervised::KMeansResult result =
      unsupervised::runKMeans(*input.data, control, kmeans, say);
  const nlohmann::ordered_json summary = summaryOf(result, kmeans, input, control.size());
  comm::runOnAllRanks(control, [&] {
    if (control.rank() != 0) return;
    io::NamedTensors tensors{{"centres", result.centres.contiguous()}};
    if (result.clusterSizes.defined()) tensors.emplace_back("cluster_sizes", result.clusterSizes);
    const std::string centresPath = input.outputDir + "/centres.safetensors";
    io::saveSafetensors(
        centresPath, tensors,
        {{"algorithm", summary["algorithm"].get<std::string>()}, {"data", input.spec}});
    const nlohmann::ordered_json figures{
        {"samples", result.samples},       {"clusters", kmeans.clusters},
        {"cost", summary["cost"]},         {"passes", result.passes},
        {"iterations", result.iterations}, {"fit_seconds", result.fitSeconds}};
    io::finishJob({input.outputDir + "/summary.json", summary, figures, {centresPath}}, say);
  });
  return 0;
}

}  // namespace

int runKMeans(int argc, char** argv) {
  StatisticsInput input;
  unsupervised::KMeansOptions kmeans;
  const auto parse = [&](launch::RankProcess& process) {
    cxxopts::Options options = kMeansFlags();
    const cxxopts::ParseResult flags = flags::parseFlags(options, argc, argv);
    launch::CommandStart start;
    if (flags.count("help")) {
      start.help = options.help();
      return start;
    }
    kmeans = parseKMeansOptions(flags);
    input = loadStatisticsInput(flags);
    placeOnCpu(process.topology(), input.rank.threads);
    kmeans.seed = input.seed;
    kmeans.batchRows = input.batchRows;
    if (process.topology().rank == 0) ensureWritableDirectory(input.outputDir, "--output-dir");
    start.commTimeoutSeconds = input.rank.commTimeoutSeconds;
    start.heartbeatTimeoutSeconds = input.rank.heartbeatTimeoutSeconds;
    return start;
  };
  return launch::runCommand(
      "ringtrain kmeans", argc, argv, parse,
      [&](launch::RankProcess& process) { return cluster(process.control(), input, kmeans); });
}

}  // namespace ringtrain::cli

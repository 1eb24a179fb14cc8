// Data-parallel k-means: every rank reads its block of the rows (RankRows.h) and the ranks combine
// what they found with collectives on a CPU communicator.
//
// - Lloyd: k-means|| initialisation (Bahmani et al.: a few rounds, each sampling about
//   `oversampling * k` points in proportion to their squared distance to the candidates so far,
//   then weighted k-means++ on the candidates), then Lloyd iterations, each one pass and one
//   allreduce of per-cluster sums and counts. Every draw depends only on the seed and the row,
//   so any world size gives the same centres.
// - One pass: every rank summarises its rows in one streaming pass (StreamingSummary.h); the
//   summaries are gathered, and the k centres are the best of `restarts` runs of weighted
//   k-means++ and Lloyd on them.
//
// Either way a last pass measures the cost over the whole data set, unless it is turned off.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "data/SampleSource.h"
#include "ringtrain/comm/Communicator.h"

namespace ringtrain::unsupervised {

enum class KMeansAlgorithm { kOnePass, kLloyd };

struct KMeansOptions {
  int64_t clusters = 10;
  KMeansAlgorithm algorithm = KMeansAlgorithm::kOnePass;
  uint64_t seed = 42;
  int64_t batchRows = 4096;
  int64_t maxIterations = 300;  // Lloyd iterations (on the data for lloyd, the summary for onepass)
  double tolerance = 1e-4;      // of the mean feature variance, on the summed centre movement
  int64_t initRounds = 5;       // k-means|| rounds
  double oversampling = 2;      // k-means|| draws about oversampling * k points per round
  int64_t summarySize = 0;      // onepass: micro-clusters per rank (0: 10 k, at least 100)
  int64_t restarts = 3;         // onepass: k-means++ and Lloyd runs on the summary
  bool measureCost = true;      // a last pass for the exact cost over the data
};

struct KMeansResult {
  at::Tensor centres;          // [k, features] float32
  at::Tensor clusterSizes;     // [k] int64, from the cost pass (undefined without it)
  std::optional<double> cost;  // sum of squared distances over the data (the cost pass)
  double summaryCost = 0;      // the cost the summary or the last Lloyd pass gives
  int64_t samples = 0;
  int64_t passes = 0;           // passes over the data to find the centres (not the cost pass)
  int64_t iterations = 0;       // Lloyd iterations
  int64_t initCandidates = 0;   // lloyd: k-means|| candidates
  int64_t summaryClusters = 0;  // onepass: micro-clusters gathered from all ranks
  int64_t relocatedClusters = 0;
  double fitSeconds = 0;
  double costSeconds = 0;
};

// The summary size onepass uses for `clusters` when KMeansOptions::summarySize is 0.
int64_t defaultSummarySize(int64_t clusters);

// Collective over `control` (a CPU communicator of all ranks reading `data`). `progress` receives
// a line per pass on rank 0.
KMeansResult runKMeans(const data::SampleSource& data, comm::Communicator& control,
                       const KMeansOptions& options,
                       const std::function<void(const std::string&)>& progress);

}  // namespace ringtrain::unsupervised

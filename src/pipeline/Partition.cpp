#include "pipeline/Partition.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

#include "ringtrain/util/Error.h"
#include "util/Numbers.h"

namespace ringtrain::pipeline {
namespace {

std::vector<int> uniform(int layers, int stages) {
  std::vector<int> counts(stages, layers / stages);
  for (int s = 0; s < layers % stages; ++s) ++counts[s];
  return counts;
}

// The contiguous split whose heaviest stage is lightest (the linear partition problem), by
// dynamic programming over (stages used, layers covered). Ties go to the split that closes
// earlier stages sooner, so the answer is deterministic.
std::vector<int> balanced(const std::vector<int64_t>& weights, int stages) {
  const int layers = static_cast<int>(weights.size());
  std::vector<int64_t> prefix(layers + 1, 0);
  for (int i = 0; i < layers; ++i) prefix[i + 1] = prefix[i] + weights[i];
  constexpr int64_t kUnreachable = std::numeric_limits<int64_t>::max();
  // heaviest[k][i]: the lightest heaviest stage over splits of the first i layers into k stages.
  std::vector<std::vector<int64_t>> heaviest(stages + 1,
                                             std::vector<int64_t>(layers + 1, kUnreachable));
  std::vector<std::vector<int>> cut(stages + 1, std::vector<int>(layers + 1, 0));
  heaviest[0][0] = 0;
  for (int k = 1; k <= stages; ++k) {
    for (int i = k; i <= layers; ++i) {
      for (int j = k - 1; j < i; ++j) {
        if (heaviest[k - 1][j] == kUnreachable) continue;
        const int64_t candidate = std::max(heaviest[k - 1][j], prefix[i] - prefix[j]);
        if (candidate < heaviest[k][i]) {
          heaviest[k][i] = candidate;
          cut[k][i] = j;
        }
      }
    }
  }
  std::vector<int> counts(stages);
  for (int k = stages, i = layers; k >= 1; --k) {
    counts[k - 1] = i - cut[k][i];
    i = cut[k][i];
  }
  return counts;
}

}  // namespace

PartitionSpec parsePartition(const std::string& flag, const std::string& text) {
  PartitionSpec spec;
  if (text == "params") return spec;
  if (text == "uniform") {
    spec.method = PartitionSpec::Method::kUniform;
    return spec;
  }
  const std::string prefix = "explicit:";
  if (text.rfind(prefix, 0) != 0) {
    throw UserError("--" + flag + " must be params, uniform or explicit:N,N,..., got '" + text +
                    "'");
  }
  spec.method = PartitionSpec::Method::kExplicit;
  std::stringstream list(text.substr(prefix.size()));
  for (std::string item; std::getline(list, item, ',');) {
    const std::optional<int64_t> count = parseInt64(item);
    RINGTRAIN_USER_CHECK(count, "--" << flag << ": '" << item << "' is not an integer");
    RINGTRAIN_USER_CHECK(*count >= 1 && *count <= std::numeric_limits<int>::max(),
                         "--" << flag << ": every stage needs at least one layer, got " << *count);
    spec.layerCounts.push_back(static_cast<int>(*count));
  }
  RINGTRAIN_USER_CHECK(
      !spec.layerCounts.empty(),
      "--" << flag << " explicit: needs a layer count per stage, e.g. explicit:4,4,6");
  return spec;
}

std::string describe(const PartitionSpec& spec) {
  switch (spec.method) {
    case PartitionSpec::Method::kParameters:
      return "params";
    case PartitionSpec::Method::kUniform:
      return "uniform";
    case PartitionSpec::Method::kExplicit:
      break;
  }
  std::string text = "explicit:";
  for (size_t i = 0; i < spec.layerCounts.size(); ++i) {
    text += (i ? "," : "") + std::to_string(spec.layerCounts[i]);
  }
  return text;
}

std::vector<int> partitionLayers(const PartitionSpec& spec,
                                 const std::vector<int64_t>& layerWeights, int stages) {
  const int layers = static_cast<int>(layerWeights.size());
  RINGTRAIN_CHECK(stages >= 1, "a pipeline needs at least one stage");
  RINGTRAIN_USER_CHECK(layers >= stages, "the model has "
                                             << layers << " layers, fewer than the " << stages
                                             << " pipeline stages (--pipeline-stages)");
  switch (spec.method) {
    case PartitionSpec::Method::kUniform:
      return uniform(layers, stages);
    case PartitionSpec::Method::kParameters:
      return balanced(layerWeights, stages);
    case PartitionSpec::Method::kExplicit:
      break;
  }
  RINGTRAIN_USER_CHECK(static_cast<int>(spec.layerCounts.size()) == stages,
                       "--partition " << describe(spec) << " lists " << spec.layerCounts.size()
                                      << " stages, but --pipeline-stages is " << stages);
  const int total = std::accumulate(spec.layerCounts.begin(), spec.layerCounts.end(), 0);
  RINGTRAIN_USER_CHECK(total == layers, "--partition " << describe(spec) << " covers " << total
                                                       << " layers, but the model has " << layers);
  return spec.layerCounts;
}

}  // namespace ringtrain::pipeline

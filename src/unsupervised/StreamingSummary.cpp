#include "unsupervised/StreamingSummary.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "ringtrain/util/Error.h"
#include "unsupervised/KMeansMath.h"

namespace ringtrain::unsupervised {
namespace {

constexpr uint64_t kOpenStream = 0x6f70656e;     // the draws that decide whether a point opens
constexpr uint64_t kHalvingStream = 0x68616c66;  // halving h seeds stream + h
constexpr int64_t kSeedingRounds = 8;
constexpr int64_t kRefinements = 5;  // Lloyd steps on the micro-clusters before they merge

MicroClusters singletons(const at::Tensor& points) {
  const at::Tensor x = points.to(at::kDouble);
  return {at::ones({points.size(0)}, at::kDouble), x, x.pow(2).sum(1)};
}

}  // namespace

at::Tensor MicroClusters::centres() const {
  return (sums / weights.unsqueeze(1)).to(at::kFloat);
}

double MicroClusters::internalCost() const {
  return (squares - sums.pow(2).sum(1) / weights).sum().item<double>();
}

double MicroClusters::costAround(const at::Tensor& centres) const {
  const at::Tensor nearest = nearestCentres(this->centres(), centres).index;
  const at::Tensor c = centres.to(at::kDouble).index_select(0, nearest);
  // sum |x - c|^2 over a micro-cluster = squares - 2 c.sum + weight |c|^2
  const at::Tensor cost = squares - 2 * (c * sums).sum(1) + weights * c.pow(2).sum(1);
  return cost.sum().item<double>();
}

MicroClusters concatenate(const std::vector<MicroClusters>& parts) {
  std::vector<at::Tensor> weights, sums, squares;
  for (const MicroClusters& part : parts) {
    if (part.size() == 0) continue;
    weights.push_back(part.weights);
    sums.push_back(part.sums);
    squares.push_back(part.squares);
  }
  RINGTRAIN_CHECK(!weights.empty(), "no micro-clusters to concatenate");
  return {at::cat(weights), at::cat(sums), at::cat(squares)};
}

MicroClusters mergeGroups(const MicroClusters& clusters, const at::Tensor& assignment,
                          int64_t groups) {
  MicroClusters merged{
      at::zeros({groups}, at::kDouble).index_add_(0, assignment, clusters.weights),
      at::zeros({groups, clusters.sums.size(1)}, at::kDouble)
          .index_add_(0, assignment, clusters.sums),
      at::zeros({groups}, at::kDouble).index_add_(0, assignment, clusters.squares)};
  const at::Tensor kept = merged.weights.gt(0).nonzero().squeeze(1);
  if (kept.size(0) == groups) return merged;
  return {merged.weights.index_select(0, kept), merged.sums.index_select(0, kept),
          merged.squares.index_select(0, kept)};
}

StreamingSummary::StreamingSummary(int64_t dimension, int64_t budget, uint64_t seed)
    : budget_(budget), seed_(seed) {
  RINGTRAIN_CHECK(budget >= 2, "a streaming summary needs a budget of at least 2");
  clusters_ = {at::empty({0}, at::kDouble), at::empty({0, dimension}, at::kDouble),
               at::empty({0}, at::kDouble)};
  centres_ = at::empty({0, dimension}, at::kFloat);
}

void StreamingSummary::add(const at::Tensor& points, int64_t firstRow) {
  int64_t skip = 0;
  if (clusters_.size() == 0) {
    clusters_ = singletons(points.narrow(0, 0, 1));
    centres_ = points.narrow(0, 0, 1).clone();
    skip = 1;
  }
  const int64_t count = points.size(0) - skip;
  if (count <= 0) return;
  const at::Tensor rest = points.narrow(0, skip, count);
  const Nearest nearest = nearestCentres(rest, centres_);
  at::Tensor opens;
  if (facilityCost_ == 0) {
    opens = nearest.distance.gt(0);
  } else {
    at::Tensor draws = at::empty({count}, at::kDouble);
    double* out = draws.data_ptr<double>();
    for (int64_t i = 0; i < count; ++i) out[i] = uniformAt(seed_, kOpenStream, firstRow + skip + i);
    opens = draws.mul_(facilityCost_).lt(nearest.distance.to(at::kDouble));
  }
  const at::Tensor joining = opens.logical_not().nonzero().squeeze(1);
  if (joining.size(0) > 0) {
    const at::Tensor into = nearest.index.index_select(0, joining);
    const MicroClusters joined = singletons(rest.index_select(0, joining));
    clusters_.weights.index_add_(0, into, joined.weights);
    clusters_.sums.index_add_(0, into, joined.sums);
    clusters_.squares.index_add_(0, into, joined.squares);
  }
  const at::Tensor opening = opens.nonzero().squeeze(1);
  if (opening.size(0) > 0) {
    clusters_ = concatenate({clusters_, singletons(rest.index_select(0, opening))});
  }
  if (clusters_.size() > budget_) {
    halve();
  } else {
    centres_ = clusters_.centres();
  }
}

void StreamingSummary::halve() {
  const int64_t target = std::max<int64_t>(1, budget_ * 3 / 4);
  const uint64_t seed = derivedSeed(seed_, kHalvingStream + static_cast<uint64_t>(halvings_));
  at::Tensor centres =
      batchedSeeds(clusters_.centres(), clusters_.weights, target, seed, kSeedingRounds);
  const at::Tensor points = clusters_.centres();
  for (int64_t step = 0; step < kRefinements; ++step) {
    const at::Tensor group = nearestCentres(points, centres).index;
    centres = mergeGroups(clusters_, group, centres.size(0)).centres();
  }
  clusters_ = mergeGroups(clusters_, nearestCentres(points, centres).index, centres.size(0));
  centres_ = clusters_.centres();
  facilityCost_ = std::max(facilityCost_, clusters_.internalCost() / clusters_.size());
  ++halvings_;
}

}  // namespace ringtrain::unsupervised

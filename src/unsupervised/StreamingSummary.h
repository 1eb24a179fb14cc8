// The state of one-pass k-means on one rank: at most `budget` weighted micro-clusters that stand
// for every point seen so far. Each micro-cluster keeps its weight (points absorbed), the sum of
// its points and the sum of their squared norms, so that its centre, the cost of its points
// around any centre, and merges of micro-clusters are exact. Summaries of different ranks merge
// by concatenation.
//
// A point far from every current centre opens a micro-cluster of its own, with probability
// min(1, d^2 / f) (Meyerson's online facility location); any other point joins its nearest
// micro-cluster. When the budget is exceeded, the summary is halved by clustering its
// micro-clusters and merging each group, which merges those whose merging costs least, and the
// facility cost f rises to the mean cost a merged micro-cluster now carries. f grows as the
// summary coarsens, so micro-clusters open ever more rarely and the summary covers a stream of
// any length in about log2(stream / budget) halvings.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace ringtrain::unsupervised {

struct MicroClusters {
  at::Tensor weights;  // [m] float64
  at::Tensor sums;     // [m, d] float64
  at::Tensor squares;  // [m] float64: sum of squared norms

  int64_t size() const { return weights.defined() ? weights.size(0) : 0; }
  at::Tensor centres() const;  // [m, d] float32
  // Sum over micro-clusters of their points' squared distances to their own centre.
  double internalCost() const;
  // Sum of every represented point's squared distance to its micro-cluster's nearest centre in
  // `centres`: the k-means cost of the points, had they gone where their micro-cluster goes.
  double costAround(const at::Tensor& centres) const;
};

MicroClusters concatenate(const std::vector<MicroClusters>& parts);

// Micro-cluster i goes into group assignment[i]; groups that receive nothing are dropped.
MicroClusters mergeGroups(const MicroClusters& clusters, const at::Tensor& assignment,
                          int64_t groups);

class StreamingSummary {
 public:
  StreamingSummary(int64_t dimension, int64_t budget, uint64_t seed);

  // `points` [b, d] float32; `firstRow`: the global index of points[0], which fixes the random
  // draws each point gets.
  void add(const at::Tensor& points, int64_t firstRow);

  const MicroClusters& clusters() const { return clusters_; }
  int64_t halvings() const { return halvings_; }
  double facilityCost() const { return facilityCost_; }

 private:
  void halve();

  int64_t budget_;
  uint64_t seed_;
  MicroClusters clusters_;
  at::Tensor centres_;  // clusters_.centres(), kept up to date
  double facilityCost_ = 0;
  int64_t halvings_ = 0;
};

}  // namespace ringtrain::unsupervised

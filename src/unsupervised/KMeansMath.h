// The arithmetic of k-means on points held in memory, with weights: nearest centres, k-means++
// seeding and Lloyd iterations. The distributed jobs (KMeans.h) and the one-pass summary
// (StreamingSummary.h) are built from these; nothing here communicates.
//
// Points are [n, d] float32 (distances are computed as |x|^2 - 2 x.c + |c|^2 through a matrix
// product, as scikit-learn does); weights, sums and costs are float64, so that a sum does not
// depend on how the points were split into batches or over ranks beyond the last few bits.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace ringtrain::unsupervised {

// A number in [0, 1) that depends only on (seed, stream, index): the same for a point whichever
// rank reads it and in whichever batch, so that sampling is independent of the world size.
double uniformAt(uint64_t seed, uint64_t stream, uint64_t index);

// A seed for one use of `seed` (a rank, a restart): a hash, so that neighbouring streams of
// neighbouring seeds do not share draws.
uint64_t derivedSeed(uint64_t seed, uint64_t stream);

struct Nearest {
  at::Tensor distance;  // [n] float32, squared, >= 0
  at::Tensor index;     // [n] int64
};
Nearest nearestCentres(const at::Tensor& points, const at::Tensor& centres);

// Greedy k-means++ (Arthur and Vassilvitskii, with scikit-learn's `trials` candidates per step,
// keeping the one that lowers the cost most), drawing points in proportion to weight x squared
// distance. UserError when the points hold fewer than k distinct positions of positive weight.
at::Tensor kMeansPlusPlus(const at::Tensor& points, const at::Tensor& weights, int64_t k,
                          uint64_t seed, int64_t trials);

// The default number of k-means++ candidates per step: 2 + floor(ln k).
int64_t defaultSeedingTrials(int64_t k);

// k-means++ that draws `k / rounds` centres at a time (by weighted D^2 sampling without
// replacement), for shrinking a large summary quickly where the choice matters less.
at::Tensor batchedSeeds(const at::Tensor& points, const at::Tensor& weights, int64_t k,
                        uint64_t seed, int64_t rounds);

struct Clustering {
  at::Tensor centres;  // [k, d] float32
  double cost = 0;     // sum of weight x squared distance to the nearest centre
  int64_t iterations = 0;
  int64_t relocatedClusters = 0;  // empty clusters moved to far points
};

// Lloyd iterations from `centres` until the centres move less than `shiftTolerance` (summed
// squared movement) or after `maxIterations`. An empty cluster is moved to the point that pays
// the most for its current centre, as scikit-learn does.
Clustering weightedLloyd(const at::Tensor& points, const at::Tensor& weights, at::Tensor centres,
                         int64_t maxIterations, double shiftTolerance);

// New centres from per-cluster sums and weights (float64); clusters of weight zero keep their
// centre from `previous` and are listed in emptyIndices.
struct CentreUpdate {
  at::Tensor centres;       // [k, d] float32
  at::Tensor emptyIndices;  // [e] int64
  double shift = 0;         // summed squared movement of the non-empty centres
};
CentreUpdate updateCentres(const at::Tensor& sums, const at::Tensor& counts,
                           const at::Tensor& previous);

// The mean over features of the weighted variance: what scikit-learn scales its tolerance by.
double meanFeatureVariance(const at::Tensor& points, const at::Tensor& weights);

}  // namespace ringtrain::unsupervised

#include "unsupervised/KMeansMath.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "ringtrain/util/Error.h"

namespace ringtrain::unsupervised {
namespace {

uint64_t mix(uint64_t value) {  // splitmix64's finaliser
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

// [n, m] squared distances. The expansion leaves rounding noise of about float epsilon times
// the squared norms where the exact distance is zero; below that a distance counts as zero, so
// that a repeated point is not taken for a new one.
at::Tensor squaredDistances(const at::Tensor& points, const at::Tensor& centres) {
  const at::Tensor centreNorms = centres.pow(2).sum(1).unsqueeze(0);
  const at::Tensor pointNorms = points.pow(2).sum(1, true);
  at::Tensor distances = at::addmm(centreNorms, points, centres.t(), 1, -2);
  distances.add_(pointNorms);
  const at::Tensor noise = (pointNorms + centreNorms).mul_(1e-6);
  return distances.masked_fill_(distances <= noise, 0);
}

// `count` values of uniformAt(seed, stream, first + i) as float64.
at::Tensor uniformsAt(uint64_t seed, uint64_t stream, int64_t first, int64_t count) {
  at::Tensor values = at::empty({count}, at::kDouble);
  double* out = values.data_ptr<double>();
  for (int64_t i = 0; i < count; ++i) out[i] = uniformAt(seed, stream, first + i);
  return values;
}

// An index drawn with probability proportional to `mass` (float64, >= 0, positive total), from
// the uniform `u` in [0, 1). Never lands on an index of zero mass.
int64_t drawProportional(const at::Tensor& cumulativeMass, double u) {
  const int64_t n = cumulativeMass.size(0);
  const double target = u * cumulativeMass[n - 1].item<double>();
  const double* cumulative = cumulativeMass.data_ptr<double>();
  const int64_t index = std::upper_bound(cumulative, cumulative + n, target) - cumulative;
  return std::min(index, n - 1);
}

void checkPoints(const at::Tensor& points, const at::Tensor& weights) {
  RINGTRAIN_CHECK(points.dim() == 2 && points.scalar_type() == at::kFloat,
                  "points must be [n, d] float32");
  RINGTRAIN_CHECK(weights.dim() == 1 && weights.size(0) == points.size(0) &&
                      weights.scalar_type() == at::kDouble,
                  "weights must be [n] float64");
}

[[noreturn]] void tooFewDistinct(int64_t found, int64_t k) {
  throw UserError("the data holds only " + std::to_string(found) +
                  " distinct points, fewer than the " + std::to_string(k) +
                  " clusters asked for: ask for fewer clusters");
}

}  // namespace

double uniformAt(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t bits = mix(mix(mix(seed) ^ stream) ^ index);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

uint64_t derivedSeed(uint64_t seed, uint64_t stream) {
  return mix(mix(seed) ^ mix(stream));
}

Nearest nearestCentres(const at::Tensor& points, const at::Tensor& centres) {
  const int64_t n = points.size(0);
  const int64_t k = centres.size(0);
  RINGTRAIN_CHECK(k > 0, "nearestCentres needs at least one centre");
  Nearest nearest{at::empty({n}, at::kFloat), at::empty({n}, at::kLong)};
  // Blocks of points keep the distance matrix near 16 MiB whatever k is.
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 22) / k);
  for (int64_t start = 0; start < n; start += block) {
    const int64_t rows = std::min(block, n - start);
    const auto [distance, index] = squaredDistances(points.narrow(0, start, rows), centres).min(1);
    nearest.distance.narrow(0, start, rows).copy_(distance);
    nearest.index.narrow(0, start, rows).copy_(index);
  }
  return nearest;
}

int64_t defaultSeedingTrials(int64_t k) {
  return 2 + static_cast<int64_t>(std::log(static_cast<double>(std::max<int64_t>(k, 1))));
}

at::Tensor kMeansPlusPlus(const at::Tensor& points, const at::Tensor& weights, int64_t k,
                          uint64_t seed, int64_t trials) {
  checkPoints(points, weights);
  RINGTRAIN_CHECK(k > 0 && trials > 0, "k and trials must be positive");
  const int64_t positive = weights.gt(0).sum().item<int64_t>();
  if (positive < k) tooFewDistinct(positive, k);
  at::Tensor centres = at::empty({k, points.size(1)}, at::kFloat);
  const int64_t first = drawProportional(weights.cumsum(0), uniformAt(seed, 0, 0));
  centres[0].copy_(points[first]);
  at::Tensor closest =
      squaredDistances(points, points.narrow(0, first, 1)).squeeze(1).to(at::kDouble);
  for (int64_t c = 1; c < k; ++c) {
    const at::Tensor mass = weights * closest;
    const at::Tensor cumulative = mass.cumsum(0);
    if (cumulative[-1].item<double>() <= 0) tooFewDistinct(c, k);
    at::Tensor candidates = at::empty({trials}, at::kLong);
    for (int64_t t = 0; t < trials; ++t) {
      candidates[t] = drawProportional(cumulative, uniformAt(seed, static_cast<uint64_t>(c), t));
    }
    const at::Tensor options =
        at::minimum(closest.unsqueeze(1),
                    squaredDistances(points, points.index_select(0, candidates)).to(at::kDouble));
    const int64_t best = (weights.unsqueeze(1) * options).sum(0).argmin().item<int64_t>();
    centres[c].copy_(points[candidates[best].item<int64_t>()]);
    closest = options.select(1, best).contiguous();
  }
  return centres;
}

at::Tensor batchedSeeds(const at::Tensor& points, const at::Tensor& weights, int64_t k,
                        uint64_t seed, int64_t rounds) {
  checkPoints(points, weights);
  RINGTRAIN_CHECK(k > 0 && rounds > 0, "k and rounds must be positive");
  const int64_t n = points.size(0);
  std::vector<at::Tensor> chosen;
  const int64_t first = drawProportional(weights.cumsum(0), uniformAt(seed, 0, 0));
  chosen.push_back(points.narrow(0, first, 1));
  at::Tensor closest = squaredDistances(points, chosen.back()).squeeze(1).to(at::kDouble);
  int64_t have = 1;
  for (int64_t round = 0; round < rounds && have < k; ++round) {
    const int64_t take = (k - have + (rounds - round) - 1) / (rounds - round);
    const at::Tensor mass = weights * closest;
    const int64_t drawable = mass.gt(0).sum().item<int64_t>();
    if (drawable == 0) break;
    // Weighted sampling without replacement: the largest keys log(u) / mass (Efraimidis and
    // Spirakis); points of zero mass get -inf and are never taken.
    const at::Tensor keys =
        uniformsAt(seed, static_cast<uint64_t>(round) + 1, 0, n).log_().div_(mass);
    const at::Tensor picked = std::get<1>(keys.topk(std::min(take, drawable)));
    const at::Tensor centres = points.index_select(0, picked);
    chosen.push_back(centres);
    closest = at::minimum(closest, nearestCentres(points, centres).distance.to(at::kDouble));
    have += picked.size(0);
  }
  return at::cat(chosen);
}

CentreUpdate updateCentres(const at::Tensor& sums, const at::Tensor& counts,
                           const at::Tensor& previous) {
  const at::Tensor filled = counts.gt(0);
  const at::Tensor means = (sums / counts.clamp_min(1e-300).unsqueeze(1)).to(at::kFloat);
  CentreUpdate update;
  update.centres = at::where(filled.unsqueeze(1), means, previous);
  update.emptyIndices = filled.logical_not().nonzero().squeeze(1);
  update.shift =
      (update.centres.to(at::kDouble) - previous.to(at::kDouble)).pow(2).sum().item<double>();
  return update;
}

Clustering weightedLloyd(const at::Tensor& points, const at::Tensor& weights, at::Tensor centres,
                         int64_t maxIterations, double shiftTolerance) {
  checkPoints(points, weights);
  const int64_t k = centres.size(0);
  const at::Tensor weightedPoints = points.to(at::kDouble) * weights.unsqueeze(1);
  Clustering result;
  for (int64_t iteration = 0; iteration < maxIterations; ++iteration) {
    const Nearest nearest = nearestCentres(points, centres);
    const at::Tensor sums =
        at::zeros({k, points.size(1)}, at::kDouble).index_add_(0, nearest.index, weightedPoints);
    const at::Tensor counts = at::zeros({k}, at::kDouble).index_add_(0, nearest.index, weights);
    CentreUpdate update = updateCentres(sums, counts, centres);
    const int64_t empty = update.emptyIndices.size(0);
    if (empty > 0) {
      const at::Tensor paying = (weights * nearest.distance.to(at::kDouble)).argsort(0, true);
      update.centres.index_copy_(0, update.emptyIndices,
                                 points.index_select(0, paying.narrow(0, 0, empty)));
      result.relocatedClusters += empty;
    }
    centres = update.centres;
    result.iterations = iteration + 1;
    if (empty == 0 && update.shift <= shiftTolerance) break;
  }
  result.cost =
      (weights * nearestCentres(points, centres).distance.to(at::kDouble)).sum().item<double>();
  result.centres = centres;
  return result;
}

double meanFeatureVariance(const at::Tensor& points, const at::Tensor& weights) {
  checkPoints(points, weights);
  const at::Tensor x = points.to(at::kDouble);
  const at::Tensor w = weights.unsqueeze(1);
  const double total = weights.sum().item<double>();
  const at::Tensor mean = (x * w).sum(0) / total;
  return ((x - mean).pow(2) * w).sum(0).div(total).mean().item<double>();
}

}  // namespace ringtrain::unsupervised

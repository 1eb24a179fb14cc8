// The pure arithmetic of k-means and PCA against brute-force references, at odd sizes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"
#include "unsupervised/KMeansMath.h"
#include "unsupervised/Pca.h"
#include "unsupervised/RankRows.h"
#include "unsupervised/StreamingSummary.h"

namespace ringtrain::unsupervised {
namespace {

at::Tensor randomPoints(int64_t n, int64_t d, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn({n, d}, at::kFloat) * 3 + 1;
}

TEST(KMeansMath, NearestCentresMatchBruteForce) {
  for (const auto& [n, k, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {37, 5, 3}, {1001, 17, 13}, {4099, 2049, 7}}) {
    const at::Tensor points = randomPoints(n, d, 1);
    const at::Tensor centres = randomPoints(k, d, 2);
    const at::Tensor exact =
        (points.unsqueeze(1).to(at::kDouble) - centres.unsqueeze(0).to(at::kDouble)).pow(2).sum(2);
    const auto [distance, index] = exact.min(1);
    const Nearest nearest = nearestCentres(points, centres);
    EXPECT_TRUE(at::allclose(nearest.distance.to(at::kDouble), distance, 1e-4, 1e-3))
        << n << " " << k << " " << d;
    // Where two centres are nearly as close, the float expansion may pick either.
    const at::Tensor picked = exact.gather(1, nearest.index.unsqueeze(1)).squeeze(1);
    EXPECT_TRUE(at::allclose(picked, distance, 1e-4, 1e-3)) << n << " " << k << " " << d;
  }
}

TEST(KMeansMath, UniformDrawsDependOnlyOnSeedStreamAndIndex) {
  EXPECT_EQ(uniformAt(7, 1, 12345), uniformAt(7, 1, 12345));
  EXPECT_NE(uniformAt(7, 1, 12345), uniformAt(7, 2, 12345));
  EXPECT_NE(uniformAt(7, 1, 12345), uniformAt(8, 1, 12345));
  double sum = 0;
  for (uint64_t i = 0; i < 100000; ++i) {
    const double u = uniformAt(3, 0, i);
    ASSERT_GE(u, 0);
    ASSERT_LT(u, 1);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(KMeansMath, WeightedLloydEqualsLloydOnRepeatedPoints) {
  // Integer weights are repetitions: the weighted run must take the same steps as the plain run
  // on the expanded points.
  const at::Tensor points = randomPoints(211, 5, 3);
  at::manual_seed(4);
  const at::Tensor weights = at::randint(1, 4, {211}, at::kLong);
  const at::Tensor expanded = points.repeat_interleave(weights, 0);
  const at::Tensor start = points.narrow(0, 0, 7).clone();
  const Clustering weighted = weightedLloyd(points, weights.to(at::kDouble), start, 50, 0);
  const Clustering plain =
      weightedLloyd(expanded, at::ones({expanded.size(0)}, at::kDouble), start, 50, 0);
  EXPECT_EQ(weighted.iterations, plain.iterations);
  EXPECT_TRUE(at::allclose(weighted.centres, plain.centres, 1e-5, 1e-5));
  EXPECT_NEAR(weighted.cost, plain.cost, 1e-6 * plain.cost);
}

TEST(KMeansMath, KMeansPlusPlusPicksDistinctPointsAndRefusesTooFew) {
  const at::Tensor points = randomPoints(50, 4, 5);
  const at::Tensor centres = kMeansPlusPlus(points, at::ones({50}, at::kDouble), 9, 11, 3);
  ASSERT_EQ(centres.size(0), 9);
  EXPECT_EQ(std::get<0>(at::_unique(centres.select(1, 0))).size(0), 9);
  const at::Tensor same = points.narrow(0, 0, 1).repeat({20, 1});
  same.narrow(0, 10, 10).add_(1);  // two distinct positions
  EXPECT_EQ(kMeansPlusPlus(same, at::ones({20}, at::kDouble), 2, 1, 3).size(0), 2);
  try {
    kMeansPlusPlus(same, at::ones({20}, at::kDouble), 3, 1, 3);
    FAIL() << "three clusters of two distinct points";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("only 2 distinct points"), std::string::npos)
        << error.what();
  }
}

TEST(StreamingSummary, KeepsEveryPointsWeightSumAndSquares) {
  const int64_t n = 5003;
  const at::Tensor points = randomPoints(n, 6, 6);
  StreamingSummary summary(6, 40, 9);
  for (int64_t first = 0; first < n; first += 97) {
    summary.add(points.narrow(0, first, std::min<int64_t>(97, n - first)), first);
  }
  const MicroClusters& clusters = summary.clusters();
  EXPECT_LE(clusters.size(), 40);
  EXPECT_GT(summary.halvings(), 0);
  const at::Tensor x = points.to(at::kDouble);
  EXPECT_NEAR(clusters.weights.sum().item<double>(), n, 1e-9);
  EXPECT_TRUE(at::allclose(clusters.sums.sum(0), x.sum(0), 1e-9, 1e-6));
  EXPECT_NEAR(clusters.squares.sum().item<double>(), x.pow(2).sum().item<double>(), 1e-6);
  // The cost the summary gives for some centres bounds the points' own cost from above.
  const at::Tensor centres = points.narrow(0, 0, 5).clone();
  const double own = nearestCentres(points, centres).distance.to(at::kDouble).sum().item<double>();
  EXPECT_GE(clusters.costAround(centres), own * (1 - 1e-6));
}

TEST(StreamingSummary, CostAroundIsExactWhenEveryMicroClusterIsOnePoint) {
  const at::Tensor points = randomPoints(33, 4, 7);
  StreamingSummary summary(4, 100, 1);
  summary.add(points, 0);
  ASSERT_EQ(summary.clusters().size(), 33);
  const at::Tensor centres = points.narrow(0, 3, 4).clone() + 0.5;
  const double exact =
      nearestCentres(points, centres).distance.to(at::kDouble).sum().item<double>();
  EXPECT_NEAR(summary.clusters().costAround(centres), exact, 1e-4 * exact);
}

TEST(StreamingSummary, MergedGroupsKeepTheirTotals) {
  const at::Tensor points = randomPoints(10, 3, 8);
  StreamingSummary summary(3, 100, 1);
  summary.add(points, 0);
  const at::Tensor assignment = at::tensor({0, 2, 2, 0, 4, 4, 4, 0, 2, 0}, at::kLong);
  const MicroClusters merged = mergeGroups(summary.clusters(), assignment, 5);
  ASSERT_EQ(merged.size(), 3);  // groups 1 and 3 receive nothing
  EXPECT_TRUE(at::allclose(merged.weights, at::tensor({4.0, 3.0, 3.0}, at::kDouble)));
  EXPECT_TRUE(at::allclose(
      merged.sums[1],
      points.to(at::kDouble).index_select(0, at::tensor({1, 2, 8}, at::kLong)).sum(0)));
  const MicroClusters both = concatenate({merged, summary.clusters()});
  EXPECT_EQ(both.size(), 13);
  EXPECT_NEAR(both.weights.sum().item<double>(), 20, 1e-12);
}

TEST(Moments, BatchedMomentsEqualTheWholeDataCovariance) {
  const at::Tensor points = randomPoints(1009, 7, 9);
  Moments moments(7);
  for (int64_t first = 0; first < 1009; first += 100) {
    moments.add(points.narrow(0, first, std::min<int64_t>(100, 1009 - first)));
  }
  const at::Tensor x = points.to(at::kDouble);
  EXPECT_EQ(moments.count(), 1009);
  EXPECT_TRUE(at::allclose(moments.mean(), x.mean(0), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(moments.scatter() / 1008, at::cov(x.t()), 1e-10, 1e-10));
}

TEST(Moments, ComponentsAreUnitEigenvectorsWithSignedLargestEntries) {
  const at::Tensor points = randomPoints(501, 6, 10);
  Moments moments(6);
  moments.add(points);
  const PcaModel model = principalComponents(moments, 3, true);
  const at::Tensor covariance = at::cov(points.to(at::kDouble).t());
  for (int64_t c = 0; c < 3; ++c) {
    const at::Tensor v = model.components[c];
    EXPECT_NEAR(v.norm().item<double>(), 1, 1e-12);
    EXPECT_TRUE(at::allclose(covariance.mv(v), v * model.explainedVariance[c], 1e-9, 1e-9));
    EXPECT_GT(v[v.abs().argmax()].item<double>(), 0);
  }
  EXPECT_GE(model.explainedVariance[0].item<double>(), model.explainedVariance[1].item<double>());
  EXPECT_TRUE(at::allclose(model.projection(),
                           model.components / model.explainedVariance.sqrt().unsqueeze(1)));
  EXPECT_THROW(principalComponents(moments, 7, false), UserError);
  Moments flat(2);
  flat.add(at::cat({points.narrow(1, 0, 1), at::zeros({501, 1})}, 1));
  EXPECT_THROW(principalComponents(flat, 2, true), UserError);
  EXPECT_NO_THROW(principalComponents(flat, 2, false));
}

TEST(RankRows, BlocksCoverEveryRowOnceInOrder) {
  for (int64_t rows : {1, 7, 100, 1001}) {
    for (int ranks : {1, 2, 3, 7}) {
      if (rows < ranks) continue;
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const RowRange range = rowsOfRank(rows, r, ranks);
        EXPECT_EQ(range.begin, next);
        EXPECT_GE(range.size(), rows / ranks);
        EXPECT_LE(range.size(), rows / ranks + 1);
        next = range.end;
      }
      EXPECT_EQ(next, rows);
    }
  }
}

}  // namespace
}  // namespace ringtrain::unsupervised

#include "unsupervised/KMeans.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <sstream>
#include <vector>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"
#include "unsupervised/KMeansMath.h"
#include "unsupervised/RankRows.h"
#include "unsupervised/StreamingSummary.h"

namespace ringtrain::unsupervised {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kFirstCentreStream = 0x66697273;  // k-means||'s first centre
constexpr uint64_t kRoundStream = 0x726f756e;        // k-means|| round r draws stream + r
constexpr int64_t kMostExtraRounds = 50;             // k-means|| rounds past --init-rounds
constexpr uint64_t kRankSummaryStream = 0x72616e6b;  // onepass: rank r's summary seeds stream + r
constexpr uint64_t kRestartStream = 0x72657374;      // onepass: restart i seeds stream + i

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Every rank's `rows` [m_rank, ...] stacked in rank order, for rows of any count per rank.
at::Tensor gatherRows(comm::Communicator& control, const at::Tensor& rows) {
  const at::Tensor counts = control.allGather(at::full({1}, rows.size(0), at::kLong)).flatten();
  const int64_t most = counts.max().item<int64_t>();
  std::vector<int64_t> paddedShape = rows.sizes().vec();
  paddedShape[0] = most;
  at::Tensor padded = at::zeros(paddedShape, rows.options());
  padded.narrow(0, 0, rows.size(0)).copy_(rows);
  const at::Tensor all = control.allGather(padded);
  std::vector<at::Tensor> parts;
  for (int r = 0; r < control.size(); ++r) {
    parts.push_back(all[r].narrow(0, 0, counts[r].item<int64_t>()));
  }
  return at::cat(parts);
}

// Every rank's `rows` stacked in rank order on rank 0 (an undefined tensor elsewhere), sent in
// pieces of at most a GiB: a large summary need not fit in one message or twice on every rank.
at::Tensor gatherRowsOnRankZero(comm::Communicator& control, const at::Tensor& rows) {
  const at::Tensor counts = control.allGather(at::full({1}, rows.size(0), at::kLong)).flatten();
  int64_t rowBytes = static_cast<int64_t>(rows.element_size());
  for (int64_t dim = 1; dim < rows.dim(); ++dim) rowBytes *= rows.size(dim);
  const int64_t rowsPerMessage =
      std::max<int64_t>(1, (int64_t{1} << 30) / std::max<int64_t>(1, rowBytes));
  if (control.rank() != 0) {
    for (int64_t first = 0; first < rows.size(0); first += rowsPerMessage) {
      control.send(
          rows.narrow(0, first, std::min(rowsPerMessage, rows.size(0) - first)).contiguous(), 0);
    }
    return at::Tensor();
  }
  std::vector<at::Tensor> parts{rows};
  for (int r = 1; r < control.size(); ++r) {
    std::vector<int64_t> shape = rows.sizes().vec();
    shape[0] = counts[r].item<int64_t>();
    at::Tensor part = at::empty(shape, rows.options());
    for (int64_t first = 0; first < part.size(0); first += rowsPerMessage) {
      at::Tensor piece = part.narrow(0, first, std::min(rowsPerMessage, part.size(0) - first));
      control.recv(piece, r);
    }
    parts.push_back(part);
  }
  return at::cat(parts);
}

at::Tensor readRow(const data::SampleSource& data, int64_t row) {
  return data.gather(&row, 1, false).features.reshape({1, -1});
}

// Runs `step` on rank 0 (failing on every rank if it fails there) and gives every rank its
// result, shaped like `shape`.
at::Tensor fromRankZero(comm::Communicator& control, at::IntArrayRef shape,
                        const std::function<at::Tensor()>& step) {
  at::Tensor result = at::empty(shape, at::kFloat);
  comm::runOnAllRanks(control, [&] {
    if (control.rank() == 0) result.copy_(step());
  });
  control.broadcast(result, 0);
  return result;
}

struct CostPass {
  double cost = 0;
  at::Tensor sizes;
};

CostPass measureCost(const data::SampleSource& data, comm::Communicator& control,
                     const KMeansOptions& options, const at::Tensor& centres) {
  const int64_t k = centres.size(0);
  at::Tensor totals = at::zeros({k + 1}, at::kDouble);  // cluster sizes, then the cost
  comm::runOnAllRanks(control, [&] {
    forEachBatch(data, rowsOfRank(data.size(), control.rank(), control.size()), options.batchRows,
                 [&](const at::Tensor& x, int64_t) {
                   const Nearest nearest = nearestCentres(x, centres);
                   totals.narrow(0, 0, k).index_add_(0, nearest.index,
                                                     at::ones({x.size(0)}, at::kDouble));
                   totals[k] += nearest.distance.to(at::kDouble).sum();
                 });
  });
  control.allReduce(totals);
  return {totals[k].item<double>(), totals.narrow(0, 0, k).round().to(at::kLong)};
}

// The rows of every rank's block, with what each pass of k-means|| and Lloyd keeps per row.
class LloydJob {
 public:
  LloydJob(const data::SampleSource& data, comm::Communicator& control,
           const KMeansOptions& options, const std::function<void(const std::string&)>& progress)
      : data_(data),
        control_(control),
        options_(options),
        progress_(progress),
        range_(rowsOfRank(data.size(), control.rank(), control.size())) {}

  KMeansResult run() {
    KMeansResult result;
    const at::Tensor start = initialise(result);
    iterate(start, result);
    return result;
  }

 private:
  void say(const std::string& line) const {
    if (control_.rank() == 0 && progress_) progress_(line);
  }

  int ownerOf(int64_t row) const {
    for (int r = 0; r < control_.size(); ++r) {
      const RowRange range = rowsOfRank(data_.size(), r, control_.size());
      if (row >= range.begin && row < range.end) return r;
    }
    throw InternalError("row outside the data set");
  }

  // Distances of the block's rows to `added` (candidates numbered from `offset`), keeping the
  // nearer of old and new; returns the summed squared distance over all ranks. The first pass
  // also sums the features and their squares, for the tolerance.
  double updateClosest(const at::Tensor& added, int64_t offset, bool firstPass) {
    const int64_t d = added.size(1);
    at::Tensor totals = at::zeros({1 + (firstPass ? 2 * d : 0)}, at::kDouble);
    comm::runOnAllRanks(control_, [&] {
      forEachBatch(data_, range_, options_.batchRows, [&](const at::Tensor& x, int64_t first) {
        const Nearest nearest = nearestCentres(x, added);
        at::Tensor closest = closest_.narrow(0, first - range_.begin, x.size(0));
        at::Tensor owner = owner_.narrow(0, first - range_.begin, x.size(0));
        const at::Tensor nearer =
            firstPass ? at::ones_like(nearest.distance, at::kBool) : nearest.distance.lt(closest);
        closest.copy_(at::where(nearer, nearest.distance, closest));
        owner.copy_(at::where(nearer, (nearest.index + offset).to(at::kInt), owner));
        totals[0] += closest.to(at::kDouble).sum();
        if (firstPass) {
          const at::Tensor xd = x.to(at::kDouble);
          totals.narrow(0, 1, d).add_(xd.sum(0));
          totals.narrow(0, 1 + d, d).add_(xd.pow(2).sum(0));
        }
      });
    });
    control_.allReduce(totals);
    if (firstPass) {
      const double n = static_cast<double>(data_.size());
      const at::Tensor mean = totals.narrow(0, 1, d) / n;
      shiftTolerance_ =
          options_.tolerance *
          (totals.narrow(0, 1 + d, d) / n - mean.pow(2)).clamp_min(0).mean().item<double>();
    }
    ++passes_;
    return totals[0].item<double>();
  }

  // The block's rows that k-means|| round `round` picks: each with probability
  // draws x its squared distance / potential, by a uniform that depends only on the seed, the
  // round and the row. Decided a million rows at a time, to keep the temporaries small.
  at::Tensor drawCandidates(int64_t round, double potential, double draws) const {
    constexpr int64_t kRowsAtATime = 1 << 20;
    std::vector<int64_t> rows;
    for (int64_t offset = 0; offset < range_.size(); offset += kRowsAtATime) {
      const int64_t count = std::min(kRowsAtATime, range_.size() - offset);
      at::Tensor u = at::empty({count}, at::kDouble);
      double* out = u.data_ptr<double>();
      for (int64_t i = 0; i < count; ++i) {
        out[i] = uniformAt(options_.seed, kRoundStream + static_cast<uint64_t>(round),
                           static_cast<uint64_t>(range_.begin + offset + i));
      }
      const at::Tensor picked =
          u.mul_(potential).lt(closest_.narrow(0, offset, count).to(at::kDouble) * draws).nonzero();
      const int64_t* index = picked.data_ptr<int64_t>();
      for (int64_t i = 0; i < picked.size(0); ++i) rows.push_back(range_.begin + offset + index[i]);
    }
    const int64_t d = featuresPerSample(data_);
    if (rows.empty()) return at::empty({0, d}, at::kFloat);
    const int64_t count = static_cast<int64_t>(rows.size());
    return data_.gather(rows.data(), count, false).features.reshape({count, d});
  }

  at::Tensor initialise(KMeansResult& result) {
    const auto started = Clock::now();
    const int64_t n = data_.size();
    const int64_t firstRow = std::min<int64_t>(
        n - 1, static_cast<int64_t>(uniformAt(options_.seed, kFirstCentreStream, 0) *
                                    static_cast<double>(n)));
    const int owner = ownerOf(firstRow);
    at::Tensor first = at::empty({1, featuresPerSample(data_)}, at::kFloat);
    comm::runOnAllRanks(control_, [&] {
      if (control_.rank() == owner) first.copy_(readRow(data_, firstRow));
    });
    control_.broadcast(first, owner);
    closest_ = at::empty({range_.size()}, at::kFloat);
    owner_ = at::empty({range_.size()}, at::kInt);
    at::Tensor candidates = first;
    double potential = updateClosest(first, 0, true);
    const double draws = options_.oversampling * static_cast<double>(options_.clusters);
    const int64_t k = options_.clusters;
    // Past --init-rounds, rounds go on while there are fewer candidates than clusters (a round
    // draws about oversampling * k points, but may draw fewer); a potential of zero means every
    // distinct point is a candidate already.
    for (int64_t round = 1; potential > 0 && (round <= options_.initRounds ||
                                              (candidates.size(0) < k &&
                                               round <= options_.initRounds + kMostExtraRounds));
         ++round) {
      at::Tensor chosen;
      comm::runOnAllRanks(control_, [&] { chosen = drawCandidates(round, potential, draws); });
      const at::Tensor added = gatherRows(control_, chosen);
      if (added.size(0) == 0) continue;
      potential = updateClosest(added, candidates.size(0), false);
      candidates = at::cat({candidates, added});
      std::ostringstream line;
      line << "k-means|| round " << round << ": candidates=" << candidates.size(0)
           << " cost=" << potential;
      say(line.str());
    }
    at::Tensor weights = at::bincount(owner_.to(at::kLong), {}, candidates.size(0)).to(at::kDouble);
    control_.allReduce(weights);
    result.initCandidates = candidates.size(0);
    const at::Tensor start = fromRankZero(control_, {k, candidates.size(1)}, [&] {
      const at::Tensor seeds =
          kMeansPlusPlus(candidates, weights, k, options_.seed, defaultSeedingTrials(k));
      return weightedLloyd(candidates, weights, seeds, options_.maxIterations, shiftTolerance_)
          .centres;
    });
    closest_ = at::Tensor();
    owner_ = at::Tensor();
    initSeconds_ = secondsSince(started);
    return start;
  }

  // The `count` points farthest from `centres` over all ranks, farthest first and, at equal
  // distance, the lower row first, so that the choice does not depend on the world size.
  at::Tensor farthestPoints(const at::Tensor& centres, int64_t count) {
    const int64_t d = centres.size(1);
    // Per row: distance, the row (exact in float64), the features.
    at::Tensor best = at::empty({0, 2 + d}, at::kDouble);
    const auto keepFarthest = [](const at::Tensor& rows, int64_t keep) {
      const at::Tensor byRow = rows.select(1, 1).argsort(/*stable=*/true, 0, false);
      const at::Tensor sorted = rows.index_select(0, byRow);
      const at::Tensor byDistance = sorted.select(1, 0).argsort(/*stable=*/true, 0, true);
      return sorted.index_select(0, byDistance.narrow(0, 0, std::min(keep, rows.size(0))));
    };
    comm::runOnAllRanks(control_, [&] {
      forEachBatch(data_, range_, options_.batchRows, [&](const at::Tensor& x, int64_t first) {
        const at::Tensor distance = nearestCentres(x, centres).distance.to(at::kDouble);
        const at::Tensor rows = at::arange(first, first + x.size(0), at::kDouble);
        const at::Tensor batch =
            at::cat({distance.unsqueeze(1), rows.unsqueeze(1), x.to(at::kDouble)}, 1);
        best = keepFarthest(at::cat({best, batch}), count);
      });
    });
    ++passes_;
    return keepFarthest(gatherRows(control_, best), count)
        .narrow(1, 2, d)
        .to(at::kFloat)
        .contiguous();
  }

  void iterate(at::Tensor centres, KMeansResult& result) {
    const auto started = Clock::now();
    const int64_t k = centres.size(0);
    const int64_t d = centres.size(1);
    for (int64_t iteration = 0; iteration < options_.maxIterations; ++iteration) {
      at::Tensor totals = at::zeros({k * d + k + 1}, at::kDouble);  // sums, counts, cost
      at::Tensor sums = totals.narrow(0, 0, k * d).view({k, d});
      comm::runOnAllRanks(control_, [&] {
        forEachBatch(data_, range_, options_.batchRows, [&](const at::Tensor& x, int64_t) {
          const Nearest nearest = nearestCentres(x, centres);
          sums.index_add_(0, nearest.index, x.to(at::kDouble));
          totals.narrow(0, k * d, k)
              .index_add_(0, nearest.index, at::ones({x.size(0)}, at::kDouble));
          totals[k * d + k] += nearest.distance.to(at::kDouble).sum();
        });
      });
      control_.allReduce(totals);
      ++passes_;
      CentreUpdate update = updateCentres(sums, totals.narrow(0, k * d, k), centres);
      const int64_t empty = update.emptyIndices.size(0);
      if (empty > 0) {
        update.centres.index_copy_(0, update.emptyIndices, farthestPoints(update.centres, empty));
        result.relocatedClusters += empty;
      }
      centres = update.centres;
      result.iterations = iteration + 1;
      result.summaryCost = totals[k * d + k].item<double>();
      std::ostringstream line;
      line << "lloyd iteration " << iteration + 1 << ": cost=" << result.summaryCost
           << " shift=" << update.shift << (empty ? " relocated=" + std::to_string(empty) : "");
      say(line.str());
      if (empty == 0 && update.shift <= shiftTolerance_) break;
    }
    result.centres = centres;
    result.passes = passes_;
    result.fitSeconds = initSeconds_ + secondsSince(started);
  }

  const data::SampleSource& data_;
  comm::Communicator& control_;
  const KMeansOptions& options_;
  const std::function<void(const std::string&)>& progress_;
  RowRange range_;
  at::Tensor closest_;  // per row of the block: squared distance to the nearest candidate
  at::Tensor owner_;    // and that candidate's index
  double shiftTolerance_ = 0;
  int64_t passes_ = 0;
  double initSeconds_ = 0;
};

// [m, 2 + d] float64 rows (weight, squared norms, sums), and back.
at::Tensor packClusters(const MicroClusters& clusters) {
  return at::cat({clusters.weights.unsqueeze(1), clusters.squares.unsqueeze(1), clusters.sums}, 1);
}
MicroClusters unpackClusters(const at::Tensor& rows) {
  return {rows.select(1, 0).contiguous(), rows.narrow(1, 2, rows.size(1) - 2).contiguous(),
          rows.select(1, 1).contiguous()};
}

KMeansResult runOnePass(const data::SampleSource& data, comm::Communicator& control,
                        const KMeansOptions& options,
                        const std::function<void(const std::string&)>& progress) {
  const auto started = Clock::now();
  const int64_t d = featuresPerSample(data);
  const int64_t budget =
      options.summarySize > 0 ? options.summarySize : defaultSummarySize(options.clusters);
  StreamingSummary summary(
      d, budget,
      derivedSeed(options.seed, kRankSummaryStream + static_cast<uint64_t>(control.rank())));
  comm::runOnAllRanks(control, [&] {
    forEachBatch(data, rowsOfRank(data.size(), control.rank(), control.size()), options.batchRows,
                 [&](const at::Tensor& x, int64_t first) { summary.add(x, first); });
  });
  const at::Tensor gathered = gatherRowsOnRankZero(control, packClusters(summary.clusters()));
  const int64_t k = options.clusters;
  // Rank 0 clusters the summaries; the others receive the centres and these figures.
  at::Tensor figures = at::zeros({3}, at::kDouble);  // micro-clusters, iterations, summary cost
  at::Tensor centres = fromRankZero(control, {k, d}, [&] {
    const MicroClusters all = unpackClusters(gathered);
    if (progress) {
      std::ostringstream line;
      line << "one pass: " << all.size() << " micro-clusters from " << control.size()
           << " ranks (rank 0 halved its summary " << summary.halvings() << " times)";
      progress(line.str());
    }
    const double total = all.weights.sum().item<double>();
    const double meanVariance = ((all.squares.sum() / total).item<double>() -
                                 (all.sums.sum(0) / total).pow(2).sum().item<double>()) /
                                static_cast<double>(d);
    const at::Tensor points = all.centres();
    at::Tensor best;
    double bestCost = 0;
    int64_t bestIterations = 0;
    for (int64_t restart = 0; restart < options.restarts; ++restart) {
      const uint64_t seed =
          derivedSeed(options.seed, kRestartStream + static_cast<uint64_t>(restart));
      const Clustering run =
          weightedLloyd(points, all.weights,
                        kMeansPlusPlus(points, all.weights, k, seed, defaultSeedingTrials(k)),
                        options.maxIterations, options.tolerance * std::max(meanVariance, 0.0));
      const double cost = all.costAround(run.centres);
      if (!best.defined() || cost < bestCost) {
        best = run.centres;
        bestCost = cost;
        bestIterations = run.iterations;
      }
    }
    figures[0] = static_cast<double>(all.size());
    figures[1] = static_cast<double>(bestIterations);
    figures[2] = bestCost;
    return best;
  });
  control.broadcast(figures, 0);
  KMeansResult result;
  result.centres = centres;
  result.summaryClusters = static_cast<int64_t>(figures[0].item<double>());
  result.iterations = static_cast<int64_t>(figures[1].item<double>());
  result.summaryCost = figures[2].item<double>();
  result.passes = 1;
  result.fitSeconds = secondsSince(started);
  return result;
}

}  // namespace

int64_t defaultSummarySize(int64_t clusters) {
  return std::max<int64_t>(100, 10 * clusters);
}

KMeansResult runKMeans(const data::SampleSource& data, comm::Communicator& control,
                       const KMeansOptions& options,
                       const std::function<void(const std::string&)>& progress) {
  const int64_t n = data.size();
  checkSameDataOnEveryRank(data, control);
  comm::runOnAllRanks(control, [&] {
    RINGTRAIN_USER_CHECK(options.clusters > 0, "--clusters must be positive");
    RINGTRAIN_USER_CHECK(options.clusters <= n, "--clusters " << options.clusters
                                                              << " is more than the " << n
                                                              << " samples of " << data.source());
    RINGTRAIN_USER_CHECK(n >= control.size(), data.source()
                                                  << " has " << n << " samples, fewer than the "
                                                  << control.size() << " ranks");
  });
  KMeansResult result = options.algorithm == KMeansAlgorithm::kLloyd
                            ? LloydJob(data, control, options, progress).run()
                            : runOnePass(data, control, options, progress);
  result.samples = n;
  if (options.measureCost) {
    const auto started = Clock::now();
    CostPass pass = measureCost(data, control, options, result.centres);
    result.cost = pass.cost;
    result.clusterSizes = pass.sizes;
    result.costSeconds = secondsSince(started);
  }
  return result;
}

}  // namespace ringtrain::unsupervised

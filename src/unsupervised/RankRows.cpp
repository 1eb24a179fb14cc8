#include "unsupervised/RankRows.h"

#include <ATen/ATen.h>

#include <future>
#include <numeric>
#include <vector>

#include "ringtrain/comm/Agreement.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::unsupervised {
namespace {

at::Tensor readRows(const data::SampleSource& data, int64_t first, int64_t count) {
  std::vector<int64_t> rows(static_cast<size_t>(count));
  std::iota(rows.begin(), rows.end(), first);
  return data.gather(rows.data(), count, false).features.reshape({count, -1});
}

void checkFinite(const data::SampleSource& data, const at::Tensor& features, int64_t firstRow) {
  const at::Tensor finite = features.isfinite().all(1);
  if (finite.all().item<bool>()) return;
  const int64_t row = finite.logical_not().nonzero()[0][0].item<int64_t>();
  throw UserError(data.source() + ": sample " + std::to_string(firstRow + row + 1) +
                  " has a NaN or infinite feature; k-means and PCA need finite values "
                  "(remove or impute the sample)");
}

}  // namespace

RowRange rowsOfRank(int64_t rows, int rank, int ranks) {
  const int64_t base = rows / ranks;
  const int64_t longer = rows % ranks;
  const int64_t begin = rank * base + std::min<int64_t>(rank, longer);
  return {begin, begin + base + (rank < longer ? 1 : 0)};
}

int64_t featuresPerSample(const data::SampleSource& data) {
  const std::vector<int64_t> shape = data.sampleShape();
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

void checkSameDataOnEveryRank(const data::SampleSource& data, comm::Communicator& control) {
  const at::Tensor shape = at::tensor({data.size(), featuresPerSample(data)}, at::kLong);
  const at::Tensor shapes = control.allGather(shape);
  comm::runOnAllRanks(control, [&] {
    for (int r = 1; r < control.size(); ++r) {
      RINGTRAIN_USER_CHECK(
          shapes[r].equal(shapes[0]),
          "rank " << r << " sees " << shapes[r][0].item<int64_t>() << " samples of "
                  << shapes[r][1].item<int64_t>() << " features in " << data.source() << ", rank 0 "
                  << shapes[0][0].item<int64_t>() << " of " << shapes[0][1].item<int64_t>()
                  << "; every rank must read the same data set");
    }
  });
}

void forEachBatch(const data::SampleSource& data, RowRange range, int64_t batchRows,
                  const std::function<void(const at::Tensor&, int64_t)>& visit) {
  RINGTRAIN_CHECK(batchRows > 0, "batchRows must be positive");
  const auto start = [&](int64_t first) {
    const int64_t count = std::min(batchRows, range.end - first);
    return std::async(std::launch::async, [&data, first, count] {
      at::Tensor features = readRows(data, first, count);
      checkFinite(data, features, first);
      return features;
    });
  };
  if (range.size() <= 0) return;
  std::future<at::Tensor> next = start(range.begin);
  for (int64_t first = range.begin; first < range.end; first += batchRows) {
    const at::Tensor features = next.get();
    if (first + batchRows < range.end) next = start(first + batchRows);
    visit(features, first);
  }
}

}  // namespace ringtrain::unsupervised

#include "ringtrain/data/Dataset.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "data/DataSpec.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::data {

std::vector<int64_t> Dataset::sampleShape() const {
  auto sizes = features.sizes().vec();
  sizes.erase(sizes.begin());
  return sizes;
}

Dataset loadDataset(const std::string& spec, Split split, const LoadOptions& options) {
  return loadDataset(parseDataSpec(spec), split, options);
}

SplitRows validationSplit(int64_t size, double fraction, uint64_t seed, const std::string& source) {
  RINGTRAIN_USER_CHECK(fraction > 0 && fraction < 1,
                       "--val-fraction must be between 0 and 1, got " << fraction);
  const int64_t validationSize = static_cast<int64_t>(std::ceil(fraction * size));
  RINGTRAIN_USER_CHECK(
      validationSize < size,
      source << ": " << size << " samples are too few to split off a validation set");
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor order = at::randperm(size, generator, at::kLong);
  const int64_t* rows = order.const_data_ptr<int64_t>();
  return {{rows, rows + size - validationSize}, {rows + size - validationSize, rows + size}};
}

std::pair<Dataset, Dataset> splitOffValidation(const Dataset& all, double fraction, uint64_t seed) {
  const SplitRows split = validationSplit(all.size(), fraction, seed, all.source);
  const auto take = [&](const std::vector<int64_t>& rows, const char* suffix) {
    const at::Tensor index = at::tensor(rows, at::kLong);
    Dataset part;
    part.features = all.features.index_select(0, index);
    part.labels = all.labels.index_select(0, index);
    part.numClasses = all.numClasses;
    part.source = all.source + suffix;
    return part;
  };
  return {take(split.train, " (train split)"), take(split.validation, " (validation split)")};
}

namespace {

std::vector<double> valuesOf(const at::Tensor& tensor) {
  const at::Tensor values = tensor.to(at::kDouble).contiguous();
  return {values.const_data_ptr<double>(), values.const_data_ptr<double>() + values.numel()};
}

void standardizeWith(Dataset& dataset, const FeatureStatistics& statistics) {
  const at::Tensor mean = at::tensor(statistics.mean, at::kDouble).to(at::kFloat);
  const at::Tensor scale = at::tensor(statistics.scale, at::kDouble).to(at::kFloat);
  const auto shape = dataset.features.sizes().vec();
  dataset.features = ((dataset.features.flatten(1) - mean) / scale).reshape(shape);
}

// Mean and standard deviation (n - 1) of every column, in double precision, a block of rows at a
// time: exact enough for the constant-feature test, without a double copy of the whole table.
std::pair<at::Tensor, at::Tensor> columnMoments(const at::Tensor& rows) {
  constexpr int64_t kBlockBytes = 64 << 20;  // of doubles, of which a block makes two
  const int64_t block =
      std::max<int64_t>(1, kBlockBytes / (8 * std::max<int64_t>(1, rows.size(1))));
  const int64_t n = rows.size(0);
  at::Tensor sum = at::zeros({rows.size(1)}, at::kDouble);
  for (int64_t start = 0; start < n; start += block) {
    sum += rows.narrow(0, start, std::min(block, n - start)).to(at::kDouble).sum(0);
  }
  const at::Tensor mean = sum / static_cast<double>(std::max<int64_t>(n, 1));
  at::Tensor squares = at::zeros_like(sum);
  for (int64_t start = 0; start < n; start += block) {
    const at::Tensor values = rows.narrow(0, start, std::min(block, n - start)).to(at::kDouble);
    squares += (values - mean).square_().sum(0);
  }
  const at::Tensor deviation =
      n > 1 ? (squares / static_cast<double>(n - 1)).sqrt_() : at::zeros_like(sum);
  return {mean, deviation};
}

}  // namespace

FeatureStatistics standardize(Dataset& train) {
  const auto [mean, deviation] = columnMoments(train.features.flatten(1));
  const FeatureStatistics statistics =
      featureStatistics(valuesOf(mean), valuesOf(deviation), train.size());
  standardizeWith(train, statistics);
  return statistics;
}

FeatureStatistics standardize(Dataset& train, Dataset& validation) {
  const FeatureStatistics statistics = standardize(train);
  standardizeWith(validation, statistics);
  return statistics;
}

void applyStandardization(Dataset& dataset, const FeatureStatistics& statistics) {
  int64_t features = 1;
  for (int64_t d = 1; d < dataset.features.dim(); ++d) features *= dataset.features.size(d);
  RINGTRAIN_USER_CHECK(static_cast<size_t>(features) == statistics.mean.size() &&
                           statistics.scale.size() == statistics.mean.size(),
                       dataset.source << " has " << features << " features per sample but the "
                                      << "model was trained on " << statistics.mean.size());
  standardizeWith(dataset, statistics);
}

}  // namespace ringtrain::data

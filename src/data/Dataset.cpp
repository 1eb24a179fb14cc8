#include "ringtrain/data/Dataset.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/CsvReader.h"
#include "data/IdxReader.h"
#include "data/SyntheticDataset.h"
#include "ringtrain/util/Error.h"
#include "util/Numbers.h"

namespace ringtrain::data {
namespace {

bool startsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

int64_t parsePositive(const std::string& text, const std::string& spec, const char* what) {
  const auto value = parseInt64(text);
  RINGTRAIN_USER_CHECK(value && *value > 0, "data spec '" << spec << "': " << what << " '" << text
                                                          << "' is not a positive integer");
  return *value;
}

Dataset loadSynthetic(const std::string& spec, Split split, uint64_t seed) {
  std::vector<std::string> fields;
  size_t start = std::string("synthetic:").size();
  while (true) {
    const size_t colon = spec.find(':', start);
    fields.push_back(spec.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  RINGTRAIN_USER_CHECK(fields.size() <= 3,
                       "data spec '" << spec << "': expected synthetic:N[:DIM[:CLASSES]]");
  SyntheticSpec synthetic;
  synthetic.size = parsePositive(fields[0], spec, "size");
  if (fields.size() > 1) synthetic.dim = parsePositive(fields[1], spec, "dimension");
  if (fields.size() > 2) synthetic.classes = parsePositive(fields[2], spec, "class count");
  Dataset dataset = makeSynthetic(synthetic, seed, split);
  dataset.source = spec;
  return dataset;
}

bool holdsIdxFiles(const std::string& directory) {
  return std::filesystem::exists(std::filesystem::path(directory) / "train-images-idx3-ubyte") ||
         std::filesystem::exists(std::filesystem::path(directory) / "t10k-images-idx3-ubyte");
}

}  // namespace

std::vector<int64_t> Dataset::sampleShape() const {
  auto sizes = features.sizes().vec();
  sizes.erase(sizes.begin());
  return sizes;
}

Dataset loadDataset(const std::string& spec, Split split, const LoadOptions& options) {
  RINGTRAIN_USER_CHECK(!spec.empty(), "empty data spec");
  if (startsWith(spec, "synthetic:")) return loadSynthetic(spec, split, options.seed);
  if (startsWith(spec, "csv:")) return readCsv(spec.substr(4), options.csv);
  if (startsWith(spec, "idx:")) return readIdxDirectory(spec.substr(4), split);
  std::error_code error;
  if (std::filesystem::is_directory(spec, error) && holdsIdxFiles(spec)) {
    return readIdxDirectory(spec, split);
  }
  return readCsv(spec, options.csv);
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

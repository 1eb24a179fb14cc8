#include "ringtrain/data/Dataset.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>

#include "ringtrain/data/CsvReader.h"
#include "ringtrain/data/IdxReader.h"
#include "ringtrain/data/SyntheticDataset.h"
#include "ringtrain/util/Error.h"
#include "ringtrain/util/Numbers.h"

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

void standardizeWith(Dataset& dataset, const at::Tensor& mean, const at::Tensor& scale) {
  const auto shape = dataset.features.sizes().vec();
  dataset.features = ((dataset.features.flatten(1) - mean) / scale).reshape(shape);
}

}  // namespace

FeatureStatistics standardize(Dataset& train, Dataset& validation) {
  const at::Tensor flat = train.features.flatten(1);
  const at::Tensor mean = flat.mean(0);
  const at::Tensor std = flat.size(0) > 1 ? flat.std(0) : at::ones_like(mean);
  const at::Tensor scale = std.clamp_min(1e-6);
  standardizeWith(train, mean, scale);
  standardizeWith(validation, mean, scale);
  return {valuesOf(mean), valuesOf(std)};
}

void applyStandardization(Dataset& dataset, const FeatureStatistics& statistics) {
  int64_t features = 1;
  for (int64_t d = 1; d < dataset.features.dim(); ++d) features *= dataset.features.size(d);
  RINGTRAIN_USER_CHECK(static_cast<size_t>(features) == statistics.mean.size() &&
                           statistics.std.size() == statistics.mean.size(),
                       dataset.source << " has " << features << " features per sample but the "
                                      << "model was trained on " << statistics.mean.size());
  const at::Tensor mean = at::tensor(statistics.mean, at::kDouble).to(at::kFloat);
  const at::Tensor scale = at::tensor(statistics.std, at::kDouble).to(at::kFloat).clamp_min(1e-6);
  standardizeWith(dataset, mean, scale);
}

}  // namespace ringtrain::data

#include "data/ShardedDataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "data/ElementConversion.h"
#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"

namespace ringtrain::data {
namespace {

std::string join(const std::string& directory, const std::string& name) {
  return directory.empty() || directory.back() == '/' ? directory + name : directory + "/" + name;
}

bool isShardName(const std::string& name) {
  const std::string extension = kShardExtension;
  return name.size() > extension.size() && name[0] != '.' && hasSuffix(name, extension);
}

std::vector<std::string> shardNamesIn(const std::string& directory) {
  std::vector<std::string> names;
  for (const std::string& name : listDirectory(directory)) {
    if (isShardName(name)) names.push_back(name);
  }
  // Directory order differs between hosts and file systems; every rank must see the same order.
  std::sort(names.begin(), names.end());
  return names;
}

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string text;
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "x" : "") + std::to_string(shape[i]);
  return text.empty() ? "scalar" : text;
}

// What every shard of one data set shares, compared field by field so the message says which.
void expectSameLayout(const ShardHeader& header, const ShardHeader& expected,
                      const std::string& name, const std::string& expectedFrom) {
  const auto differs = [&](const std::string& what, const std::string& found,
                           const std::string& wanted) {
    throw UserError(name + " holds " + what + " " + found + ", but " + expectedFrom + " has " +
                    wanted + "; a data set's shards must all be alike");
  };
  if (header.kind != expected.kind) {
    differs("kind", std::to_string(static_cast<int>(header.kind)),
            std::to_string(static_cast<int>(expected.kind)));
  }
  if (header.elementType != expected.elementType) {
    differs("elements of type", elementTypeName(header.elementType),
            elementTypeName(expected.elementType));
  }
  if (header.sampleShape != expected.sampleShape) {
    differs("samples of shape", shapeText(header.sampleShape), shapeText(expected.sampleShape));
  }
  if (header.numClasses != expected.numClasses) {
    differs("a class count of", std::to_string(header.numClasses),
            std::to_string(expected.numClasses));
  }
  if (header.featureScale != expected.featureScale) {
    differs("a feature scale of", std::to_string(header.featureScale),
            std::to_string(expected.featureScale));
  }
}

}  // namespace

bool isShardDirectory(const std::string& path) {
  if (!isDirectory(path)) return false;
  if (pathExists(join(path, kIndexFile))) return true;
  return !shardNamesIn(path).empty();
}

std::shared_ptr<const ShardedDataset> ShardedDataset::open(const std::string& directory,
                                                           const ShardOpenOptions& options) {
  RINGTRAIN_USER_CHECK(isDirectory(directory),
                       "cannot read data set " << directory << ": not a directory");
  std::shared_ptr<ShardedDataset> dataset(new ShardedDataset());
  dataset->directory_ = directory;
  dataset->options_ = options;
  DatasetIndex& description = dataset->description_;

  const std::string indexPath = join(directory, kIndexFile);
  std::vector<std::string> names;
  if (options.useIndex) {
    RINGTRAIN_USER_CHECK(pathExists(indexPath), directory
                                                    << " has no " << kIndexFile
                                                    << " (make data sets with `ringtrain prep`)");
    description = parseIndex(readFile(indexPath), indexPath);
    for (const ShardEntry& entry : description.shards) names.push_back(entry.file);
  } else {
    names = shardNamesIn(directory);
    RINGTRAIN_USER_CHECK(!names.empty(), directory << " holds no *" << kShardExtension << " file");
  }

  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = join(directory, names[i]);
    RINGTRAIN_USER_CHECK(pathExists(path), path << " is missing (listed in " << indexPath << ")");
    Shard shard;
    shard.file = MappedFile::open(path);
    const std::string_view bytes(shard.file->data(), shard.file->size());
    shard.header = parseShardHeader(bytes, path);
    RINGTRAIN_USER_CHECK(static_cast<int64_t>(bytes.size()) == shard.header.fileBytes(),
                         path << " has " << bytes.size() << " bytes, its header promises "
                              << shard.header.fileBytes() << " (truncated?)");
    if (options.useIndex) {
      const ShardEntry& entry = description.shards[i];
      ShardHeader expected = shard.header;
      expected.kind = description.kind;
      expected.elementType = description.elementType;
      expected.sampleShape = description.sampleShape;
      expected.numClasses = description.numClasses;
      expected.featureScale = description.featureScale;
      expectSameLayout(shard.header, expected, path, indexPath);
      RINGTRAIN_USER_CHECK(
          shard.header.count == entry.count && shard.header.dataCrc32c == entry.dataCrc32c,
          path << " is not the shard " << indexPath << " lists (count " << shard.header.count
               << " against " << entry.count << "); was it replaced?");
    } else if (i > 0) {
      expectSameLayout(shard.header, dataset->shards_.front().header, path,
                       dataset->shards_.front().file->path());
    }
    shard.first = dataset->entries_;
    dataset->entries_ += shard.header.count;
    dataset->shards_.push_back(std::move(shard));
  }

  if (!options.useIndex) {
    const ShardHeader& first = dataset->shards_.front().header;
    description.kind = first.kind;
    description.elementType = first.elementType;
    description.sampleShape = first.sampleShape;
    description.numClasses = first.numClasses;
    description.featureScale = first.featureScale;
    description.count = dataset->entries_;
    description.source = directory;
    for (size_t i = 0; i < names.size(); ++i) {
      const ShardHeader& header = dataset->shards_[i].header;
      description.shards.push_back({names[i], header.count, header.fileBytes(), header.dataCrc32c});
    }
  }

  if (description.kind == ShardKind::kTokens) {
    RINGTRAIN_USER_CHECK(options.context > 0,
                         directory << " is a token stream: give the window length (--context)");
    RINGTRAIN_USER_CHECK(dataset->entries_ > options.context,
                         directory << " holds " << dataset->entries_
                                   << " tokens, too few for one window of " << options.context
                                   << " and the token after it");
    dataset->size_ = (dataset->entries_ - 1) / options.context;
  } else {
    dataset->size_ = dataset->entries_;
  }

  if (const auto& statistics = options.standardizeWith) {
    int64_t elements = 1;
    for (const int64_t extent : dataset->sampleShape()) elements *= extent;
    RINGTRAIN_USER_CHECK(statistics->mean.size() == static_cast<size_t>(elements) &&
                             statistics->scale.size() == statistics->mean.size(),
                         directory << ": statistics for " << statistics->mean.size()
                                   << " features cannot standardise samples of " << elements);
    for (size_t i = 0; i < statistics->mean.size(); ++i) {
      dataset->mean_.push_back(static_cast<float>(statistics->mean[i]));
      // featureStatistics (ringtrain/data/Dataset.h) makes every scale positive; a zero would turn
      // features into inf.
      RINGTRAIN_CHECK(statistics->scale[i] > 0,
                      "feature " << i << " has a scale of " << statistics->scale[i]);
      dataset->inverseScale_.push_back(1.0f / static_cast<float>(statistics->scale[i]));
    }
  }
  return dataset;
}

std::vector<int64_t> ShardedDataset::sampleShape() const {
  if (description_.kind == ShardKind::kTokens) return {options_.context};
  return description_.sampleShape;
}

std::pair<const ShardedDataset::Shard*, int64_t> ShardedDataset::locate(int64_t global) const {
  RINGTRAIN_CHECK(global >= 0 && global < entries_, "entry " << global << " of " << entries_);
  const auto after =
      std::upper_bound(shards_.begin(), shards_.end(), global,
                       [](int64_t value, const Shard& shard) { return value < shard.first; });
  const Shard& shard = *(after - 1);
  return {&shard, global - shard.first};
}

void ShardedDataset::copyTokens(int64_t first, int64_t count, float* out) const {
  while (count > 0) {
    const auto [shard, local] = locate(first);
    const int64_t take = std::min(count, shard->header.count - local);
    const size_t width = elementBytes(shard->header.elementType);
    convertToFloat(shard->header.elementType,
                   shard->file->data() + kShardHeaderBytes + local * static_cast<int64_t>(width),
                   take, 1.0f, out);
    first += take;
    count -= take;
    out += take;
  }
}

void ShardedDataset::copyTokenIds(int64_t first, int64_t count, int64_t* out) const {
  while (count > 0) {
    const auto [shard, local] = locate(first);
    const int64_t take = std::min(count, shard->header.count - local);
    const size_t width = elementBytes(shard->header.elementType);
    const char* from =
        shard->file->data() + kShardHeaderBytes + local * static_cast<int64_t>(width);
    for (int64_t t = 0; t < take; ++t) {
      out[t] = integerAt(shard->header.elementType, from + t * static_cast<int64_t>(width));
      RINGTRAIN_USER_CHECK(out[t] >= 0 && out[t] < description_.numClasses,
                           shard->file->path() << ": token " << local + t << " is " << out[t]
                                               << ", outside the vocabulary of "
                                               << description_.numClasses << " (corrupt?)");
    }
    first += take;
    count -= take;
    out += take;
  }
}

int64_t ShardedDataset::targetLength() const {
  return description_.kind == ShardKind::kTokens ? options_.context : 0;
}

int64_t ShardedDataset::readLabel(int64_t row) const {
  const auto [shard, local] = locate(row);
  int64_t label = 0;
  std::memcpy(&label, shard->file->data() + shard->header.labelOffset() + local * 8, 8);
  RINGTRAIN_USER_CHECK(label >= 0 && label < description_.numClasses,
                       shard->file->path() << ": sample " << local << " has label " << label
                                           << ", outside the data set's " << description_.numClasses
                                           << " classes (corrupt?)");
  return label;
}

Batch ShardedDataset::gather(const int64_t* rows, int64_t count, bool pinned) const {
  std::vector<int64_t> shape = sampleShape();
  shape.insert(shape.begin(), count);
  const auto options = at::TensorOptions().pinned_memory(pinned);
  const int64_t targets = targetLength();
  Batch batch{at::empty(shape, options.dtype(at::kFloat)),
              targets > 0 ? at::empty({count, targets}, options.dtype(at::kLong))
                          : at::empty({count}, options.dtype(at::kLong))};
  float* features = batch.features.data_ptr<float>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  int64_t elements = 1;
  for (size_t d = 1; d < shape.size(); ++d) elements *= shape[d];
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = rows[i];
    RINGTRAIN_CHECK(row >= 0 && row < size_, "row " << row << " of " << size_);
    float* out = features + i * elements;
    if (description_.kind == ShardKind::kTokens) {
      const int64_t start = row * options_.context;
      copyTokens(start, options_.context, out);
      copyTokenIds(start + 1, options_.context, labels + i * options_.context);
      continue;
    }
    const auto [shard, local] = locate(row);
    convertToFloat(description_.elementType,
                   shard->file->data() + kShardHeaderBytes + local * shard->header.sampleBytes(),
                   elements, static_cast<float>(description_.featureScale), out);
    if (!mean_.empty()) {
      for (int64_t e = 0; e < elements; ++e) out[e] = (out[e] - mean_[e]) * inverseScale_[e];
    }
    labels[i] = readLabel(row);
  }
  return batch;
}

void ShardedDataset::willGather(const int64_t* rows, int64_t count) const {
  for (int64_t i = 0; i < count; ++i) {
    if (description_.kind == ShardKind::kTokens) {
      const int64_t start = rows[i] * options_.context;
      const auto [shard, local] = locate(start);
      const size_t width = elementBytes(shard->header.elementType);
      shard->file->willNeed(kShardHeaderBytes + local * width, (options_.context + 1) * width);
      continue;
    }
    const auto [shard, local] = locate(rows[i]);
    const int64_t sampleBytes = shard->header.sampleBytes();
    shard->file->willNeed(kShardHeaderBytes + local * sampleBytes, sampleBytes);
    shard->file->willNeed(shard->header.labelOffset() + local * 8, 8);
  }
}

std::optional<text::TokenizerRecord> ShardedDataset::tokenizer() const {
  if (description_.kind != ShardKind::kTokens) return std::nullopt;
  if (!options_.useIndex) return tokenizerBesideTheShards();
  const DatasetIndex& index = description_;
  if (index.tokenizer.empty()) {
    const bool bytes = index.sourceFormat == "text" && index.elementType == ElementType::kUInt8 &&
                       index.numClasses == text::kByteVocabulary;
    if (!bytes) return std::nullopt;
    return text::TokenizerRecord{text::kByteTokenizer, ""};
  }
  text::TokenizerRecord record{index.tokenizer, ""};
  if (!index.tokenizerFile.empty()) {
    const std::string path = join(directory_, index.tokenizerFile);
    RINGTRAIN_USER_CHECK(pathExists(path), path << " is missing (its index lists it)");
    record.model = readFile(path);
    RINGTRAIN_USER_CHECK(crc32c(record.model) == index.tokenizerCrc32c,
                         path << " fails its checksum (corrupt or replaced)");
  }
  return record;
}

std::optional<text::TokenizerRecord> ShardedDataset::tokenizerBesideTheShards() const {
  // One host's share of the files may lack the index or the model, or hold a stale index: what
  // is there counts, and nothing here fails the job.
  const std::string model = join(directory_, kTokenizerFile);
  if (pathExists(model))
    return text::TokenizerRecord{text::kSentencePieceTokenizer, readFile(model)};
  const std::string indexPath = join(directory_, kIndexFile);
  if (!pathExists(indexPath)) return std::nullopt;
  try {
    if (parseIndex(readFile(indexPath), indexPath).tokenizer == text::kByteTokenizer)
      return text::TokenizerRecord{text::kByteTokenizer, ""};
  } catch (const UserError&) {
  }
  return std::nullopt;
}

void ShardedDataset::expectRandomAccess() const {
  for (const Shard& shard : shards_) shard.file->expectRandomAccess();
}

void ShardedDataset::verifyChecksums(const std::function<void(int64_t, int64_t)>& progress) const {
  int64_t total = 0;
  for (const Shard& shard : shards_) total += static_cast<int64_t>(shard.file->size());
  int64_t done = 0;
  constexpr size_t kPiece = size_t{8} << 20;
  for (const Shard& shard : shards_) {
    uint32_t crc = 0;
    for (size_t at = kShardHeaderBytes; at < shard.file->size(); at += kPiece) {
      const size_t length = std::min(kPiece, shard.file->size() - at);
      shard.file->willNeed(at + length, kPiece);
      crc = crc32c(std::string_view(shard.file->data() + at, length), crc);
      done += static_cast<int64_t>(length);
      if (progress) progress(done, total);
    }
    RINGTRAIN_USER_CHECK(crc == shard.header.dataCrc32c, shard.file->path()
                                                             << " fails its checksum (corrupt)");
    done += kShardHeaderBytes;
  }
  if (progress) progress(total, total);
}

}  // namespace ringtrain::data

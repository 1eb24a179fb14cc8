#include "data/ShardWriter.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>

#include "data/ElementConversion.h"
#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"

namespace ringtrain::data {
namespace {

std::string withoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string parentOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string baseNameOf(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Only what ringtrain itself wrote may be replaced: the files of a data set, or nothing at all.
bool holdsOnlyADataset(const std::string& directory) {
  const std::vector<std::string> names = listDirectory(directory);
  const std::string extension = kShardExtension;
  return std::all_of(names.begin(), names.end(), [&](const std::string& name) {
    const bool datasetName = name == kIndexFile || name == kTokenizerFile ||
                             (name.size() > extension.size() && hasSuffix(name, extension));
    return datasetName && !isDirectory(directory + "/" + name);
  });
}

}  // namespace

void checkReplaceable(const std::string& directory, bool replace) {
  if (!pathExists(directory)) return;
  RINGTRAIN_USER_CHECK(isDirectory(directory), directory << " exists and is not a directory");
  if (listDirectory(directory).empty()) return;
  RINGTRAIN_USER_CHECK(replace, directory << " already exists and is not empty; pass "
                                             "--overwrite to replace the data set in it");
  RINGTRAIN_USER_CHECK(holdsOnlyADataset(directory),
                       directory << " holds files other than a ringtrain data set; refusing to "
                                    "replace it");
}

ShardWriter::ShardWriter(std::string directory, ShardLayout layout, int64_t shardBytes,
                         bool replace)
    : directory_(withoutTrailingSlashes(std::move(directory))),
      layout_(std::move(layout)),
      replace_(replace) {
  RINGTRAIN_USER_CHECK(!directory_.empty(), "the output directory must not be empty");
  header_.kind = layout_.kind;
  header_.elementType = layout_.elementType;
  header_.sampleShape = layout_.sampleShape;
  header_.featureScale = layout_.featureScale;
  header_.count = 1;
  header_.numClasses = 1;
  // Validates the layout the way a reader will.
  parseShardHeader(encodeShardHeader(header_), "the output layout");
  samplesPerShard_ = std::max<int64_t>(1, shardBytes / header_.sampleBytes());
  if (layout_.featureStatistics) {
    mean_.assign(static_cast<size_t>(header_.sampleElements()), 0.0);
    squares_.assign(mean_.size(), 0.0);
  }

  checkReplaceable(directory_, replace_);
  const std::string parent = parentOf(directory_);
  makeDirectories(parent);
  partial_ = parent + "/." + baseNameOf(directory_) + ".partial-" + std::to_string(::getpid());
  removeTree(partial_);
  makeDirectories(partial_);
}

ShardWriter::~ShardWriter() {
  if (finished_) return;
  shard_.reset();
  removeTree(partial_);
}

void ShardWriter::append(const void* features, const int64_t* labels, int64_t count) {
  RINGTRAIN_CHECK(!finished_, "append after finish");
  RINGTRAIN_CHECK((labels != nullptr) == (layout_.kind == ShardKind::kSamples),
                  "labels go with samples, not with tokens");
  const auto* bytes = static_cast<const char*>(features);
  const int64_t sampleBytes = header_.sampleBytes();
  while (count > 0) {
    if (!shard_) {
      shard_ = std::make_unique<FileWriter>(partial_ + "/" + shardFileName(shards_.size()));
      const std::string placeholder(kShardHeaderBytes, '\0');  // the header comes at finish()
      shard_->append(placeholder.data(), placeholder.size());
      shardCount_ = 0;
      shardCrc_ = 0;
      shardLabels_.clear();
    }
    const int64_t take = std::min(count, samplesPerShard_ - shardCount_);
    const auto takeBytes = static_cast<size_t>(take * sampleBytes);
    shard_->append(bytes, takeBytes);
    shardCrc_ = crc32c(std::string_view(bytes, takeBytes), shardCrc_);
    if (layout_.featureStatistics) accumulateStatistics(bytes, take);
    if (labels != nullptr) {
      for (int64_t i = 0; i < take; ++i) {
        RINGTRAIN_USER_CHECK(labels[i] >= 0 && labels[i] < (int64_t{1} << 31),
                             "sample " << total_ + i + 1 << " has label " << labels[i]
                                       << "; labels must lie in 0..2147483647");
        largestLabel_ = std::max(largestLabel_, labels[i]);
      }
      shardLabels_.insert(shardLabels_.end(), labels, labels + take);
      labels += take;
    }
    bytes += takeBytes;
    count -= take;
    shardCount_ += take;
    total_ += take;
    if (shardCount_ == samplesPerShard_) closeShard();
  }
}

void ShardWriter::accumulateStatistics(const char* features, int64_t count) {
  const auto elements = static_cast<int64_t>(mean_.size());
  std::vector<float> sample(mean_.size());
  for (int64_t i = 0; i < count; ++i) {
    convertToFloat(layout_.elementType, features + i * header_.sampleBytes(), elements,
                   static_cast<float>(layout_.featureScale), sample.data());
    const auto seen = static_cast<double>(total_ + i + 1);
    for (int64_t e = 0; e < elements; ++e) {
      const double value = sample[e];
      const double delta = value - mean_[e];
      mean_[e] += delta / seen;
      squares_[e] += delta * (value - mean_[e]);
    }
  }
}

void ShardWriter::closeShard() {
  ShardHeader header = header_;
  header.count = shardCount_;
  if (layout_.kind == ShardKind::kSamples) {
    const std::string padding(
        static_cast<size_t>(header.labelOffset() - kShardHeaderBytes - header.featureBytes()),
        '\0');
    shard_->append(padding.data(), padding.size());
    shardCrc_ = crc32c(padding, shardCrc_);
    const std::string_view labelBytes(reinterpret_cast<const char*>(shardLabels_.data()),
                                      shardLabels_.size() * sizeof(int64_t));
    shard_->append(labelBytes.data(), labelBytes.size());
    shardCrc_ = crc32c(labelBytes, shardCrc_);
  }
  RINGTRAIN_CHECK(static_cast<int64_t>(shard_->size()) == header.fileBytes(),
                  "shard of " << shard_->size() << " bytes, expected " << header.fileBytes());
  shard_->finish();
  shard_.reset();
  shards_.push_back({shardFileName(shards_.size()), shardCount_, header.fileBytes(), shardCrc_});
}

DatasetIndex ShardWriter::finish(const DatasetOrigin& origin) {
  RINGTRAIN_CHECK(!finished_, "finish twice");
  RINGTRAIN_USER_CHECK(total_ > 0, origin.source << ": no samples to write");
  if (shard_) closeShard();

  int64_t numClasses = origin.numClasses;
  if (layout_.kind == ShardKind::kSamples) {
    if (numClasses == 0) numClasses = largestLabel_ + 1;
    RINGTRAIN_USER_CHECK(largestLabel_ < numClasses, origin.source << " has label " << largestLabel_
                                                                   << ", outside the " << numClasses
                                                                   << " classes given");
  }
  RINGTRAIN_CHECK(numClasses > 0, "a token stream needs its vocabulary size");

  DatasetIndex index;
  index.kind = layout_.kind;
  index.elementType = layout_.elementType;
  index.sampleShape = layout_.sampleShape;
  index.numClasses = numClasses;
  index.featureScale = layout_.featureScale;
  index.count = total_;
  index.source = origin.source;
  index.sourceFormat = origin.sourceFormat;
  index.shards = shards_;
  // Statistics of data holding NaN or infinities mean nothing (and JSON cannot hold them): the
  // index then has none, and whatever reads the samples reports the bad values.
  const bool finite =
      std::all_of(mean_.begin(), mean_.end(), [](double v) { return std::isfinite(v); }) &&
      std::all_of(squares_.begin(), squares_.end(), [](double v) { return std::isfinite(v); });
  if (layout_.featureStatistics && finite) {
    index.featureMean = mean_;
    for (const double squares : squares_)
      index.featureStd.push_back(total_ > 1 ? std::sqrt(squares / (total_ - 1)) : 0.0);
  }

  for (const ShardEntry& shard : shards_) {
    ShardHeader header = header_;
    header.count = shard.count;
    header.numClasses = numClasses;
    header.dataCrc32c = shard.dataCrc32c;
    overwriteDurably(partial_ + "/" + shard.file, 0, encodeShardHeader(header));
  }
  if (origin.tokenizer) {
    RINGTRAIN_CHECK(layout_.kind == ShardKind::kTokens, "a tokenizer for samples");
    index.tokenizer = origin.tokenizer->kind;
    if (!origin.tokenizer->model.empty()) {
      index.tokenizerFile = kTokenizerFile;
      index.tokenizerCrc32c = crc32c(origin.tokenizer->model);
      writeFileDurably(partial_ + "/" + kTokenizerFile, origin.tokenizer->model);
    }
  }
  writeFileDurably(partial_ + "/" + kIndexFile, encodeIndex(index));
  syncDirectory(partial_);
  // Something else may have been put there while the data set was being written.
  checkReplaceable(directory_, replace_);

  replaceDirectory(partial_, directory_,
                   parentOf(directory_) + "/." + baseNameOf(directory_) + ".replaced-" +
                       std::to_string(::getpid()));
  syncDirectory(parentOf(directory_));
  finished_ = true;
  return index;
}

}  // namespace ringtrain::data

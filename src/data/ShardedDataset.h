// A data set directory in the shard format (ShardFormat.h), read through memory maps: opening it
// reads only the index and the shard headers, and each gather touches only the pages of the rows
// it returns, so a rank reads its own samples and the data set may be far larger than memory.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/SampleSource.h"
#include "data/ShardFormat.h"
#include "ringtrain/data/Dataset.h"
#include "text/Tokenizer.h"
#include "util/MappedFile.h"

namespace ringtrain::data {

struct ShardOpenOptions {
  // true: the shards index.json lists, checked against it. false: whatever *.rtshard files the
  // directory holds, in name order, ignoring any index (a host that received only some files).
  bool useIndex = true;
  // Token streams: tokens per sample window (> 0). Sample i is the window of `context` tokens
  // starting at token i x context; its labels are the `context` tokens after the window's first,
  // the window shifted by one, so that neighbouring windows share one token and every token but
  // the first is a target once.
  int64_t context = 0;
  // Features are read as (x - mean) / scale, feature by feature: a data set's own statistics (its
  // index's), or the training set's for a validation set.
  std::optional<FeatureStatistics> standardizeWith;
};

// Whether `path` is a directory holding a data set in the shard format.
bool isShardDirectory(const std::string& path);

class ShardedDataset final : public SampleSource {
 public:
  // UserError naming the directory or file on any inconsistency: a missing or truncated shard,
  // a corrupt header or index, shards of different shapes or types, a header that disagrees
  // with the index.
  static std::shared_ptr<const ShardedDataset> open(const std::string& directory,
                                                    const ShardOpenOptions& options);

  int64_t size() const override { return size_; }
  std::vector<int64_t> sampleShape() const override;
  int64_t numClasses() const override { return description_.numClasses; }
  int64_t targetLength() const override;
  const std::string& source() const override { return directory_; }
  Batch gather(const int64_t* rows, int64_t count, bool pinned) const override;
  void willGather(const int64_t* rows, int64_t count) const override;
  bool readsFromDisk() const override { return true; }

  // The index, or for an unindexed directory what the shard headers say.
  const DatasetIndex& description() const { return description_; }
  // A token stream's tokenizer, as its index records it (a data set of bytes from an earlier
  // version's `prep --format text` included); none when the index does not say. Read without its
  // index (one host's files), what lies there: a tokenizer.model, or an index that says bytes.
  // UserError naming the tokenizer's file when it is missing or fails its checksum.
  std::optional<text::TokenizerRecord> tokenizer() const;
  // Access will be random (shuffled): no read-ahead beyond what willGather asks for.
  void expectRandomAccess() const;
  // Reads every shard in full and compares its checksum; UserError naming the first that fails.
  // `progress(bytesDone, bytesTotal)` is called as it goes.
  void verifyChecksums(const std::function<void(int64_t, int64_t)>& progress = {}) const;

 private:
  struct Shard {
    std::shared_ptr<const MappedFile> file;
    ShardHeader header;
    int64_t first = 0;  // global number of its first sample (or token)
  };

  ShardedDataset() = default;
  // The shard holding entry `global` (a sample, or a token), and its number inside that shard.
  std::pair<const Shard*, int64_t> locate(int64_t global) const;
  void copyTokens(int64_t first, int64_t count, float* out) const;
  // Token ids first..first+count as int64, each checked against the vocabulary.
  void copyTokenIds(int64_t first, int64_t count, int64_t* out) const;
  int64_t readLabel(int64_t row) const;
  std::optional<text::TokenizerRecord> tokenizerBesideTheShards() const;

  std::string directory_;
  ShardOpenOptions options_;
  DatasetIndex description_;
  std::vector<Shard> shards_;
  int64_t entries_ = 0;  // samples, or tokens
  int64_t size_ = 0;     // samples, or windows
  std::vector<float> mean_;
  std::vector<float> inverseScale_;
};

}  // namespace ringtrain::data

// Writes a data set directory in the shard format (ShardFormat.h), one sample chunk at a time, in
// constant memory: features go straight to the current shard file; only that shard's labels are
// held until it is closed.
//
// Nothing appears at `directory` until finish() succeeds: the shards and the index are written
// into a hidden directory beside it, flushed to disk, and renamed into place. A failure (a full
// disk, bad input found half-way) leaves what was there before untouched.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/ShardFormat.h"
#include "text/Tokenizer.h"
#include "util/Files.h"

namespace ringtrain::data {

struct ShardLayout {
  ShardKind kind = ShardKind::kSamples;
  ElementType elementType = ElementType::kFloat32;
  std::vector<int64_t> sampleShape;  // empty for tokens
  double featureScale = 1.0;
  bool featureStatistics = false;  // record per-feature mean and std in the index
};

struct DatasetOrigin {
  std::string source;        // the input, for messages
  std::string sourceFormat;  // csv | idx | npy | text
  int64_t numClasses = 0;    // 0: largest label + 1 (samples); required for tokens
  // Tokens: what made the ids from text, written beside the shards (none: the index does not say).
  std::optional<text::TokenizerRecord> tokenizer;
};

// An existing directory may be written to only if it is empty, or (with `replace`) holds a data
// set; UserError naming it otherwise. ShardWriter checks it too; a converter that has slow work to
// do first (training a tokenizer) checks it before.
void checkReplaceable(const std::string& directory, bool replace);

class ShardWriter {
 public:
  // `replace`: an existing data set at `directory` is replaced once the new one is complete;
  // otherwise an existing, non-empty `directory` is a UserError.
  ShardWriter(std::string directory, ShardLayout layout, int64_t shardBytes, bool replace);
  ~ShardWriter();  // without finish(): removes everything written
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // `count` samples: their features as stored (layout.elementType, sample after sample) and, for
  // samples, their labels (non-negative); labels is null for tokens.
  void append(const void* features, const int64_t* labels, int64_t count);
  int64_t count() const { return total_; }

  // Completes the last shard, writes every header and the index, and moves the data set into
  // place. UserError if nothing was appended or a label exceeds origin.numClasses.
  DatasetIndex finish(const DatasetOrigin& origin);

 private:
  void closeShard();
  void accumulateStatistics(const char* features, int64_t count);

  std::string directory_;
  std::string partial_;
  ShardLayout layout_;
  ShardHeader header_;  // the layout, for sizes
  int64_t samplesPerShard_;
  bool replace_;
  bool finished_ = false;

  std::unique_ptr<FileWriter> shard_;
  int64_t shardCount_ = 0;  // samples in the open shard
  uint32_t shardCrc_ = 0;
  std::vector<int64_t> shardLabels_;
  std::vector<ShardEntry> shards_;
  int64_t total_ = 0;
  int64_t largestLabel_ = -1;
  // Welford's running mean and sum of squared deviations, per feature.
  std::vector<double> mean_;
  std::vector<double> squares_;
};

}  // namespace ringtrain::data

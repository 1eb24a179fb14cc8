// The on-disk data set format: a directory of shard files and an index (docs/DATA_FORMAT.md).
//
//   <dir>/index.json            what the shards hold, each shard's size and checksum, the
//                               source's feature statistics; carries a checksum of itself
//   <dir>/shard-000000.rtshard  4096-byte header, then the features of `count` samples, then
//   <dir>/shard-000001.rtshard  their int64 labels (8-byte aligned); or, for a token stream,
//   ...                         `count` token ids and no labels
//
// Every shard describes itself (header: element type, sample shape, class count, checksum of the
// data), so shards can also be read without the index: by a host that received only some of the
// files, or from a stream of concatenated shards. All integers are little-endian.
// Pure encoding and validation: no file or memory-mapping code here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringtrain::data {

enum class ElementType : uint32_t {
  kUInt8 = 1,
  kFloat16 = 2,
  kFloat32 = 3,
  kInt64 = 4,
  kUInt16 = 5,
  kInt32 = 6,
};
size_t elementBytes(ElementType type);
std::string elementTypeName(ElementType type);  // "uint8", "float16", ...
std::optional<ElementType> elementTypeNamed(const std::string& name);

enum class ShardKind : uint32_t {
  kSamples = 1,  // fixed-shape samples with a label each
  kTokens = 2,   // a flat stream of token ids, read as windows
};

constexpr size_t kShardHeaderBytes = 4096;
constexpr size_t kMaxSampleRank = 8;
constexpr const char* kShardExtension = ".rtshard";
constexpr const char* kIndexFile = "index.json";
constexpr const char* kTokenizerFile = "tokenizer.model";

struct ShardHeader {
  ShardKind kind = ShardKind::kSamples;
  ElementType elementType = ElementType::kFloat32;
  std::vector<int64_t> sampleShape;  // samples: one sample's shape; tokens: empty
  int64_t count = 0;                 // samples, or tokens, in this shard
  // Samples: labels lie in [0, numClasses) across the whole data set. Tokens: the vocabulary size.
  int64_t numClasses = 0;
  double featureScale = 1.0;  // features are read as stored value x featureScale
  uint32_t dataCrc32c = 0;    // of every byte after the header

  int64_t sampleElements() const;  // product of sampleShape (1 for tokens)
  int64_t sampleBytes() const;
  int64_t featureBytes() const;
  int64_t labelOffset() const;  // 0 for tokens
  int64_t fileBytes() const;
};

// Exactly kShardHeaderBytes bytes.
std::string encodeShardHeader(const ShardHeader& header);
// Checks the magic, version, its own checksum and every field; UserError naming `name`.
ShardHeader parseShardHeader(std::string_view bytes, const std::string& name);

struct ShardEntry {
  std::string file;  // a plain name inside the data set directory
  int64_t count = 0;
  int64_t bytes = 0;
  uint32_t dataCrc32c = 0;
};

struct DatasetIndex {
  ShardKind kind = ShardKind::kSamples;
  ElementType elementType = ElementType::kFloat32;
  std::vector<int64_t> sampleShape;
  int64_t numClasses = 0;
  double featureScale = 1.0;
  int64_t count = 0;         // samples or tokens, all shards together
  std::string source;        // what it was made from, for messages
  std::string sourceFormat;  // csv | idx | npy | text
  std::vector<ShardEntry> shards;
  // Per-feature mean and standard deviation of the stored values (after featureScale) over the
  // whole data set, for --normalize; empty when the source was not a table of features.
  std::vector<double> featureMean;
  std::vector<double> featureStd;
  // Token streams: how the text became ids, text/Tokenizer.h's kind ("" when the index does not
  // say: data sets of earlier versions, or ids from a .npy). A SentencePiece model lies beside the
  // shards, in tokenizerFile, with the checksum tokenizerCrc32c.
  std::string tokenizer;
  std::string tokenizerFile;
  uint32_t tokenizerCrc32c = 0;
};

std::string encodeIndex(const DatasetIndex& index);
// Checks the format, version, its own checksum, that file names stay inside the directory and
// that the shards add up; UserError naming `name`.
DatasetIndex parseIndex(const std::string& text, const std::string& name);

// "shard-000042.rtshard"
std::string shardFileName(int64_t number);

}  // namespace ringtrain::data

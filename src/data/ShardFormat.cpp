#include "data/ShardFormat.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "ringtrain/util/Error.h"
#include "util/Crc32c.h"
#include "util/Files.h"
#include "util/JsonFields.h"

namespace ringtrain::data {
namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'R', 'I', 'N', 'G', 'S', 'H', 'R', 'D'};
constexpr uint32_t kShardVersion = 1;
constexpr const char* kIndexFormat = "ringtrain-dataset";
constexpr int kIndexVersion = 1;
constexpr const char* kIndexChecksumField = "index_crc32c";
// Byte offsets inside the header.
constexpr size_t kVersionAt = 8, kKindAt = 12, kTypeAt = 16, kRankAt = 20, kShapeAt = 24,
                 kCountAt = 88, kClassesAt = 96, kScaleAt = 104, kDataCrcAt = 112,
                 kHeaderCrcAt = 116, kUsedBytes = 120;
// Far beyond any real data set, and small enough that sizes computed from these never overflow.
constexpr int64_t kMaxBytes = int64_t{1} << 50;

template <typename T>
void put(std::string& bytes, size_t at, T value) {
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  for (size_t i = 0; i < sizeof(T); ++i) bytes[at + i] = static_cast<char>(raw[i]);
}

template <typename T>
T get(std::string_view bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

std::string kindName(ShardKind kind) {
  return kind == ShardKind::kTokens ? "tokens" : "samples";
}

bool isTokenType(ElementType type) {
  return type == ElementType::kUInt8 || type == ElementType::kUInt16 ||
         type == ElementType::kInt32 || type == ElementType::kInt64;
}

bool isPlainShardName(const std::string& name) {
  const std::string extension = kShardExtension;
  return name.size() > extension.size() && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos && name[0] != '.' && hasSuffix(name, extension);
}

// Checks what header and index share: kind, type, shape, classes, scale. Returns the bytes of
// one sample (or token).
int64_t checkLayout(ShardKind kind, ElementType type, const std::vector<int64_t>& shape,
                    int64_t numClasses, double scale, const std::string& name) {
  RINGTRAIN_USER_CHECK(elementBytes(type) > 0, name << ": unknown element type");
  int64_t elements = 1;
  if (kind == ShardKind::kTokens) {
    RINGTRAIN_USER_CHECK(isTokenType(type),
                         name << ": token ids must be integers, not " << elementTypeName(type));
    RINGTRAIN_USER_CHECK(shape.empty(), name << ": a token stream has no sample shape");
    RINGTRAIN_USER_CHECK(numClasses >= 1 && numClasses <= (int64_t{1} << 31),
                         name << ": vocabulary size " << numClasses << " is out of range");
  } else {
    RINGTRAIN_USER_CHECK(
        !shape.empty() && shape.size() <= kMaxSampleRank,
        name << ": a sample needs 1 to " << kMaxSampleRank << " dimensions, has " << shape.size());
    for (const int64_t extent : shape) {
      RINGTRAIN_USER_CHECK(extent > 0 && extent <= kMaxBytes / elements,
                           name << ": sample dimension " << extent << " is out of range");
      elements *= extent;
    }
    RINGTRAIN_USER_CHECK(numClasses >= 1 && numClasses <= (int64_t{1} << 31),
                         name << ": class count " << numClasses << " is out of range");
  }
  RINGTRAIN_USER_CHECK(elements <= kMaxBytes / static_cast<int64_t>(elementBytes(type)),
                       name << ": samples of " << elements << " elements are too large");
  RINGTRAIN_USER_CHECK(std::isfinite(scale) && scale > 0,
                       name << ": feature scale " << scale << " is not a positive number");
  return elements * static_cast<int64_t>(elementBytes(type));
}

int64_t roundUpTo8(int64_t bytes) {
  return (bytes + 7) / 8 * 8;
}

// The size of a shard of `count` samples (or tokens) of `sampleBytes` each.
int64_t shardFileBytes(ShardKind kind, int64_t count, int64_t sampleBytes) {
  const int64_t features = count * sampleBytes;
  if (kind == ShardKind::kTokens) return static_cast<int64_t>(kShardHeaderBytes) + features;
  return static_cast<int64_t>(kShardHeaderBytes) + roundUpTo8(features) + count * 8;
}

}  // namespace

size_t elementBytes(ElementType type) {
  switch (type) {
    case ElementType::kUInt8:
      return 1;
    case ElementType::kFloat16:
    case ElementType::kUInt16:
      return 2;
    case ElementType::kFloat32:
    case ElementType::kInt32:
      return 4;
    case ElementType::kInt64:
      return 8;
  }
  return 0;
}

std::string elementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kUInt8:
      return "uint8";
    case ElementType::kFloat16:
      return "float16";
    case ElementType::kFloat32:
      return "float32";
    case ElementType::kInt64:
      return "int64";
    case ElementType::kUInt16:
      return "uint16";
    case ElementType::kInt32:
      return "int32";
  }
  return "unknown(" + std::to_string(static_cast<uint32_t>(type)) + ")";
}

std::optional<ElementType> elementTypeNamed(const std::string& name) {
  for (const ElementType type : {ElementType::kUInt8, ElementType::kFloat16, ElementType::kFloat32,
                                 ElementType::kInt64, ElementType::kUInt16, ElementType::kInt32}) {
    if (elementTypeName(type) == name) return type;
  }
  return std::nullopt;
}

int64_t ShardHeader::sampleElements() const {
  int64_t elements = 1;
  for (const int64_t extent : sampleShape) elements *= extent;
  return elements;
}

int64_t ShardHeader::sampleBytes() const {
  return sampleElements() * static_cast<int64_t>(elementBytes(elementType));
}

int64_t ShardHeader::featureBytes() const {
  return count * sampleBytes();
}

int64_t ShardHeader::labelOffset() const {
  if (kind == ShardKind::kTokens) return 0;
  return static_cast<int64_t>(kShardHeaderBytes) + roundUpTo8(featureBytes());
}

int64_t ShardHeader::fileBytes() const {
  return shardFileBytes(kind, count, sampleBytes());
}

std::string encodeShardHeader(const ShardHeader& header) {
  RINGTRAIN_CHECK(header.sampleShape.size() <= kMaxSampleRank,
                  "sample rank " << header.sampleShape.size());
  std::string bytes(kShardHeaderBytes, '\0');
  std::memcpy(bytes.data(), kMagic, sizeof(kMagic));
  put<uint32_t>(bytes, kVersionAt, kShardVersion);
  put<uint32_t>(bytes, kKindAt, static_cast<uint32_t>(header.kind));
  put<uint32_t>(bytes, kTypeAt, static_cast<uint32_t>(header.elementType));
  put<uint32_t>(bytes, kRankAt, static_cast<uint32_t>(header.sampleShape.size()));
  for (size_t d = 0; d < header.sampleShape.size(); ++d)
    put<int64_t>(bytes, kShapeAt + 8 * d, header.sampleShape[d]);
  put<int64_t>(bytes, kCountAt, header.count);
  put<int64_t>(bytes, kClassesAt, header.numClasses);
  put<double>(bytes, kScaleAt, header.featureScale);
  put<uint32_t>(bytes, kDataCrcAt, header.dataCrc32c);
  put<uint32_t>(bytes, kHeaderCrcAt, crc32c(bytes));
  return bytes;
}

ShardHeader parseShardHeader(std::string_view bytes, const std::string& name) {
  RINGTRAIN_USER_CHECK(bytes.size() >= kShardHeaderBytes,
                       name << ": " << bytes.size() << " bytes, too short for a shard header of "
                            << kShardHeaderBytes << " (truncated?)");
  RINGTRAIN_USER_CHECK(std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) == 0,
                       name << ": not a ringtrain shard (bad magic)");
  const auto version = get<uint32_t>(bytes, kVersionAt);
  RINGTRAIN_USER_CHECK(version == kShardVersion, name << ": shard format version " << version
                                                      << "; this ringtrain reads version "
                                                      << kShardVersion);
  std::string zeroedChecksum(bytes.substr(0, kShardHeaderBytes));
  put<uint32_t>(zeroedChecksum, kHeaderCrcAt, 0);
  RINGTRAIN_USER_CHECK(get<uint32_t>(bytes, kHeaderCrcAt) == crc32c(zeroedChecksum),
                       name << ": shard header fails its checksum (corrupt)");
  for (size_t at = kUsedBytes; at < kShardHeaderBytes; ++at) {
    RINGTRAIN_USER_CHECK(bytes[at] == 0, name << ": shard header has stray bytes at " << at);
  }

  ShardHeader header;
  const auto kind = get<uint32_t>(bytes, kKindAt);
  RINGTRAIN_USER_CHECK(kind == 1 || kind == 2, name << ": unknown shard kind " << kind);
  header.kind = static_cast<ShardKind>(kind);
  header.elementType = static_cast<ElementType>(get<uint32_t>(bytes, kTypeAt));
  const auto rank = get<uint32_t>(bytes, kRankAt);
  RINGTRAIN_USER_CHECK(rank <= kMaxSampleRank,
                       name << ": sample rank " << rank << " exceeds " << kMaxSampleRank);
  for (uint32_t d = 0; d < rank; ++d)
    header.sampleShape.push_back(get<int64_t>(bytes, kShapeAt + 8 * d));
  header.count = get<int64_t>(bytes, kCountAt);
  header.numClasses = get<int64_t>(bytes, kClassesAt);
  header.featureScale = get<double>(bytes, kScaleAt);
  header.dataCrc32c = get<uint32_t>(bytes, kDataCrcAt);
  const int64_t sampleBytes = checkLayout(header.kind, header.elementType, header.sampleShape,
                                          header.numClasses, header.featureScale, name);
  RINGTRAIN_USER_CHECK(header.count > 0 && header.count <= kMaxBytes / (sampleBytes + 8),
                       name << ": sample count " << header.count << " is out of range");
  return header;
}

std::string shardFileName(int64_t number) {
  char name[40];
  std::snprintf(name, sizeof(name), "shard-%06lld%s", static_cast<long long>(number),
                kShardExtension);
  return name;
}

std::string encodeIndex(const DatasetIndex& index) {
  json shards = json::array();
  for (const ShardEntry& shard : index.shards) {
    shards.push_back({{"file", shard.file},
                      {"count", shard.count},
                      {"bytes", shard.bytes},
                      {"data_crc32c", shard.dataCrc32c}});
  }
  json document{{"format", kIndexFormat},
                {"version", kIndexVersion},
                {"kind", kindName(index.kind)},
                {"dtype", elementTypeName(index.elementType)},
                {"sample_shape", index.sampleShape},
                {"num_classes", index.numClasses},
                {"feature_scale", index.featureScale},
                {"count", index.count},
                {"source", index.source},
                {"source_format", index.sourceFormat},
                {"shards", shards}};
  if (!index.featureMean.empty()) {
    document["feature_mean"] = index.featureMean;
    document["feature_std"] = index.featureStd;
  }
  if (!index.tokenizer.empty()) {
    json tokenizer{{"kind", index.tokenizer}};
    if (!index.tokenizerFile.empty()) {
      tokenizer["file"] = index.tokenizerFile;
      tokenizer["crc32c"] = index.tokenizerCrc32c;
    }
    document["tokenizer"] = tokenizer;
  }
  document[kIndexChecksumField] = checksumWithout(document, kIndexChecksumField);
  return document.dump(1) + "\n";
}

DatasetIndex parseIndex(const std::string& text, const std::string& name) {
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& e) {
    throw UserError(name + " is not valid JSON (truncated or corrupt?): " + e.what());
  }
  try {
    RINGTRAIN_USER_CHECK(document.is_object() && document.value("format", "") == kIndexFormat,
                         name << " is not a ringtrain data set index");
    RINGTRAIN_USER_CHECK(
        wholeNumber(document.at("version"), 0, 1 << 30, name + ": version") == kIndexVersion,
        name << " has version " << document.at("version") << "; this ringtrain reads version "
             << kIndexVersion);
    RINGTRAIN_USER_CHECK(wholeNumber(document.at(kIndexChecksumField), 0, UINT32_MAX,
                                     name + ": " + kIndexChecksumField) ==
                             checksumWithout(document, kIndexChecksumField),
                         name << " fails its checksum (corrupt or edited)");
    DatasetIndex index;
    const std::string kind = document.at("kind").get<std::string>();
    RINGTRAIN_USER_CHECK(kind == "samples" || kind == "tokens",
                         name << ": unknown kind '" << kind << "'");
    index.kind = kind == "tokens" ? ShardKind::kTokens : ShardKind::kSamples;
    const std::string dtype = document.at("dtype").get<std::string>();
    const auto type = elementTypeNamed(dtype);
    RINGTRAIN_USER_CHECK(type, name << ": unknown dtype '" << dtype << "'");
    index.elementType = *type;
    index.sampleShape =
        wholeNumbers(document.at("sample_shape"), 0, kMaxBytes, name + ": sample_shape");
    index.numClasses =
        wholeNumber(document.at("num_classes"), 0, kMaxBytes, name + ": num_classes");
    index.featureScale = document.at("feature_scale").get<double>();
    index.count = wholeNumber(document.at("count"), 0, kMaxBytes, name + ": count");
    index.source = document.at("source").get<std::string>();
    index.sourceFormat = document.at("source_format").get<std::string>();
    const int64_t sampleBytes = checkLayout(index.kind, index.elementType, index.sampleShape,
                                            index.numClasses, index.featureScale, name);

    int64_t total = 0;
    for (const json& entry : document.at("shards")) {
      ShardEntry shard;
      shard.file = entry.at("file").get<std::string>();
      shard.count = wholeNumber(entry.at("count"), 0, kMaxBytes, name + ": a shard's count");
      shard.bytes = wholeNumber(entry.at("bytes"), 0, kMaxBytes, name + ": a shard's bytes");
      shard.dataCrc32c = static_cast<uint32_t>(
          wholeNumber(entry.at("data_crc32c"), 0, UINT32_MAX, name + ": a shard's data_crc32c"));
      RINGTRAIN_USER_CHECK(isPlainShardName(shard.file),
                           name << " names a shard that is not a *" << kShardExtension
                                << " file inside its directory: '" << shard.file << "'");
      RINGTRAIN_USER_CHECK(shard.count > 0 && shard.count <= kMaxBytes / (sampleBytes + 8),
                           name << ": " << shard.file << " has a count of " << shard.count);
      RINGTRAIN_USER_CHECK(shard.bytes == shardFileBytes(index.kind, shard.count, sampleBytes),
                           name << ": " << shard.file << " is listed with " << shard.bytes
                                << " bytes, but " << shard.count << " entries of " << sampleBytes
                                << " bytes take "
                                << shardFileBytes(index.kind, shard.count, sampleBytes));
      RINGTRAIN_USER_CHECK(total <= kMaxBytes - shard.count, name << ": too many samples");
      total += shard.count;
      index.shards.push_back(std::move(shard));
    }
    RINGTRAIN_USER_CHECK(!index.shards.empty(), name << " lists no shards");
    RINGTRAIN_USER_CHECK(total == index.count, name << ": the shards hold " << total
                                                    << " entries, the index says " << index.count);
    if (document.contains("feature_mean")) {
      index.featureMean = document.at("feature_mean").get<std::vector<double>>();
      index.featureStd = document.at("feature_std").get<std::vector<double>>();
      const auto elements = static_cast<size_t>(sampleBytes) / elementBytes(index.elementType);
      RINGTRAIN_USER_CHECK(
          index.featureMean.size() == elements && index.featureStd.size() == elements,
          name << ": feature statistics do not match samples of " << elements << " elements");
      for (size_t i = 0; i < elements; ++i) {
        RINGTRAIN_USER_CHECK(std::isfinite(index.featureMean[i]) &&
                                 std::isfinite(index.featureStd[i]) && index.featureStd[i] >= 0,
                             name << ": feature " << i << " has invalid statistics");
      }
    }
    if (document.contains("tokenizer")) {
      RINGTRAIN_USER_CHECK(index.kind == ShardKind::kTokens,
                           name << ": only a token stream has a tokenizer");
      const json& tokenizer = document.at("tokenizer");
      index.tokenizer = tokenizer.at("kind").get<std::string>();
      RINGTRAIN_USER_CHECK(!index.tokenizer.empty(), name << ": the tokenizer has no kind");
      if (tokenizer.contains("file")) {
        index.tokenizerFile = tokenizer.at("file").get<std::string>();
        index.tokenizerCrc32c = static_cast<uint32_t>(
            wholeNumber(tokenizer.at("crc32c"), 0, UINT32_MAX, name + ": the tokenizer's crc32c"));
        RINGTRAIN_USER_CHECK(index.tokenizerFile == kTokenizerFile,
                             name << " names a tokenizer file other than " << kTokenizerFile
                                  << ": '" << index.tokenizerFile << "'");
      }
    }
    return index;
  } catch (const json::exception& e) {
    throw UserError(name + " is malformed: " + e.what());
  }
}

}  // namespace ringtrain::data

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "Converters.h"
#include "InputFiles.h"
#include "data/NpyHeader.h"
#include "data/ShardWriter.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::prep {
namespace {

struct NpyInput {
  std::ifstream stream;
  data::NpyHeader header;
};

void openNpy(NpyInput& input, const std::string& path) {
  input.stream.open(path, std::ios::binary);
  RINGTRAIN_USER_CHECK(input.stream, "cannot read " << path);
  std::string start(data::kNpyHeaderReadBytes, '\0');
  input.stream.read(start.data(), static_cast<std::streamsize>(start.size()));
  start.resize(static_cast<size_t>(input.stream.gcount()));
  input.header = data::parseNpyHeader(start, fileBytes(path), path);
  input.stream.clear();
  input.stream.seekg(static_cast<std::streamoff>(input.header.dataOffset));
}

// How .npy elements are stored in a shard: as they are where the format has the type, otherwise
// widened without loss (small integers), or as float32 (float64).
data::ElementType storedType(const data::NpyHeader& header, const std::string& path) {
  switch (header.kind) {
    case 'f':
      return header.elementBytes == 2 ? data::ElementType::kFloat16 : data::ElementType::kFloat32;
    case 'b':
      return data::ElementType::kUInt8;
    case 'u':
      if (header.elementBytes == 1) return data::ElementType::kUInt8;
      if (header.elementBytes == 2) return data::ElementType::kUInt16;
      return data::ElementType::kInt64;
    case 'i':
      return header.elementBytes == 8 ? data::ElementType::kInt64 : data::ElementType::kInt32;
  }
  throw UserError(path + ": unsupported .npy element type");
}

template <typename From>
From load(const char* raw) {
  From value;
  std::memcpy(&value, raw, sizeof(From));
  return value;
}

// One element, of a float type, or of an integer type.
double asDouble(const data::NpyHeader& header, const char* raw) {
  if (header.kind == 'f') {
    if (header.elementBytes == 8) return load<double>(raw);
    if (header.elementBytes == 4) return load<float>(raw);
  }
  return 0;
}

int64_t asInteger(const data::NpyHeader& header, const char* raw, const std::string& path) {
  const bool isSigned = header.kind == 'i';
  switch (header.elementBytes) {
    case 1:
      return isSigned ? load<int8_t>(raw) : load<uint8_t>(raw);
    case 2:
      return isSigned ? load<int16_t>(raw) : load<uint16_t>(raw);
    case 4:
      return isSigned ? load<int32_t>(raw) : load<uint32_t>(raw);
    default: {
      if (isSigned) return load<int64_t>(raw);
      const auto value = load<uint64_t>(raw);
      RINGTRAIN_USER_CHECK(value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                           path << ": value " << value << " does not fit in int64");
      return static_cast<int64_t>(value);
    }
  }
}

// Converts `count` elements of `raw` into `stored` (the shard's element type).
void convertElements(const data::NpyHeader& header, data::ElementType stored, const char* raw,
                     size_t count, std::string& out, const std::string& path) {
  const size_t storedBytes = data::elementBytes(stored);
  out.resize(count * storedBytes);
  const bool asIs = storedBytes == header.elementBytes &&
                    !(header.kind == 'u' && header.elementBytes == 8);  // uint64 is range-checked
  if (asIs) {
    std::memcpy(out.data(), raw, out.size());
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    const char* element = raw + i * header.elementBytes;
    char* to = out.data() + i * storedBytes;
    if (stored == data::ElementType::kFloat32) {
      const auto value = static_cast<float>(asDouble(header, element));
      std::memcpy(to, &value, sizeof(value));
    } else if (stored == data::ElementType::kInt32) {
      const auto value = static_cast<int32_t>(asInteger(header, element, path));
      std::memcpy(to, &value, sizeof(value));
    } else {
      RINGTRAIN_CHECK(stored == data::ElementType::kInt64,
                      path << ": no widening into " << data::elementTypeName(stored));
      const int64_t value = asInteger(header, element, path);
      std::memcpy(to, &value, sizeof(value));
    }
  }
}

}  // namespace

data::DatasetIndex fromNpy(const PrepOptions& options) {
  NpyInput features;
  openNpy(features, options.input);
  const data::NpyHeader& header = features.header;
  const int64_t count = header.shape[0];
  NpyInput labels;
  if (!options.labels.empty()) {
    openNpy(labels, options.labels);
    RINGTRAIN_USER_CHECK(labels.header.shape.size() == 1 && labels.header.kind != 'f',
                         options.labels << ": labels must be a 1-D array of integers");
    RINGTRAIN_USER_CHECK(labels.header.shape[0] == count,
                         options.input << " has " << count << " samples but " << options.labels
                                       << " has " << labels.header.shape[0] << " labels");
  }

  data::ShardLayout layout;
  layout.elementType = storedType(header, options.input);
  layout.sampleShape.assign(header.shape.begin() + 1, header.shape.end());
  if (layout.sampleShape.empty()) layout.sampleShape = {1};
  layout.featureStatistics = layout.sampleShape.size() == 1;
  data::ShardWriter writer(options.output, layout, options.shardBytes, options.overwrite);

  int64_t sampleElements = 1;
  for (const int64_t extent : layout.sampleShape) sampleElements *= extent;
  const auto rawSampleBytes = static_cast<size_t>(sampleElements) * header.elementBytes;
  const int64_t perChunk =
      std::max<int64_t>(1, static_cast<int64_t>((size_t{4} << 20) / rawSampleBytes));
  ProgressThroughFiles progress(options, {options.input});
  std::string raw;
  std::string stored;
  std::string rawLabels;
  std::vector<int64_t> chunkLabels;
  for (int64_t done = 0; done < count; done += perChunk) {
    const int64_t take = std::min(perChunk, count - done);
    raw.resize(static_cast<size_t>(take) * rawSampleBytes);
    readExactly(features.stream, raw.data(), raw.size(), options.input);
    convertElements(header, layout.elementType, raw.data(),
                    static_cast<size_t>(take * sampleElements), stored, options.input);
    chunkLabels.assign(static_cast<size_t>(take), 0);
    if (!options.labels.empty()) {
      rawLabels.resize(static_cast<size_t>(take) * labels.header.elementBytes);
      readExactly(labels.stream, rawLabels.data(), rawLabels.size(), options.labels);
      for (int64_t i = 0; i < take; ++i) {
        chunkLabels[i] = asInteger(labels.header, rawLabels.data() + i * labels.header.elementBytes,
                                   options.labels);
      }
    }
    writer.append(stored.data(), chunkLabels.data(), take);
    progress.at(header.dataOffset + static_cast<uint64_t>(done + take) * rawSampleBytes);
  }
  progress.done();
  return writer.finish({options.input, "npy", options.numClasses, std::nullopt});
}

}  // namespace ringtrain::prep

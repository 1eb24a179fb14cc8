#include "data/IdxReader.h"

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <string_view>

#include "ringtrain/util/Error.h"
#include "util/Files.h"

namespace ringtrain::data {
namespace {

constexpr unsigned char kUnsignedByteType = 0x08;

uint32_t bigEndian32(std::string_view bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

}  // namespace

IdxHeader parseIdxHeader(std::string_view bytes, uint64_t fileBytes, const std::string& name) {
  RINGTRAIN_USER_CHECK(bytes.size() >= 4, name << ": too short for an IDX header");
  RINGTRAIN_USER_CHECK(bytes[0] == 0 && bytes[1] == 0, name << ": not an IDX file (bad magic)");
  RINGTRAIN_USER_CHECK(static_cast<unsigned char>(bytes[2]) == kUnsignedByteType,
                       name << ": only unsigned-byte IDX files are supported");
  const auto rank = static_cast<size_t>(static_cast<unsigned char>(bytes[3]));
  RINGTRAIN_USER_CHECK(rank >= 1, name << ": IDX file with no dimensions");
  IdxHeader header;
  header.headerBytes = 4 + 4 * rank;
  RINGTRAIN_USER_CHECK(bytes.size() >= header.headerBytes && fileBytes >= header.headerBytes,
                       name << ": truncated IDX header");

  header.elements = 1;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t extent = bigEndian32(bytes, 4 + 4 * d);
    // An empty dimension holds no data; rejecting it also keeps absurd extents next to it from
    // reaching the tensor's stride arithmetic.
    RINGTRAIN_USER_CHECK(extent > 0, name << ": dimension " << d << " is empty (no data)");
    header.shape.push_back(extent);
    header.elements *= extent;
    RINGTRAIN_USER_CHECK(header.elements <= fileBytes, name << ": dimensions exceed the file size");
  }
  RINGTRAIN_USER_CHECK(fileBytes - header.headerBytes == header.elements,
                       name << ": header promises " << header.elements
                            << " bytes of data, file has " << fileBytes - header.headerBytes);
  return header;
}

at::Tensor parseIdx(const std::string& bytes, const std::string& name) {
  const IdxHeader header = parseIdxHeader(bytes, bytes.size(), name);
  at::Tensor values = at::empty(header.shape, at::kByte);
  std::memcpy(values.data_ptr(), bytes.data() + header.headerBytes, header.elements);
  return values;
}

std::pair<std::string, std::string> idxFilesOf(const std::string& directory, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const auto path = [&](const char* suffix) {
    return (std::filesystem::path(directory) / (prefix + suffix)).string();
  };
  return {path("-images-idx3-ubyte"), path("-labels-idx1-ubyte")};
}

Dataset readIdxDirectory(const std::string& directory, Split split) {
  const auto [imagesPath, labelsPath] = idxFilesOf(directory, split);
  at::Tensor images = parseIdx(readFile(imagesPath), imagesPath);
  at::Tensor labels = parseIdx(readFile(labelsPath), labelsPath);
  RINGTRAIN_USER_CHECK(images.dim() == 3, imagesPath << ": expected [N, rows, cols] images");
  RINGTRAIN_USER_CHECK(labels.dim() == 1, labelsPath << ": expected a vector of labels");
  RINGTRAIN_USER_CHECK(images.size(0) == labels.size(0),
                       imagesPath << " has " << images.size(0) << " images but " << labelsPath
                                  << " has " << labels.size(0) << " labels");
  RINGTRAIN_USER_CHECK(labels.size(0) > 0, labelsPath << ": no samples");

  Dataset dataset;
  // [N, 1, rows, cols]
  dataset.features = images.unsqueeze(1).to(at::kFloat).mul_(static_cast<float>(kIdxPixelScale));
  dataset.labels = labels.to(at::kLong);
  dataset.numClasses = dataset.labels.max().item<int64_t>() + 1;
  dataset.source = directory;
  return dataset;
}

}  // namespace ringtrain::data

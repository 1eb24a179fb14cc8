#include "ringtrain/data/IdxReader.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "ringtrain/util/Error.h"
#include "ringtrain/util/Files.h"

namespace ringtrain::data {
namespace {

constexpr unsigned char kUnsignedByteType = 0x08;

uint32_t bigEndian32(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i)
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  return value;
}

}  // namespace

at::Tensor parseIdx(const std::string& bytes, const std::string& name) {
  RINGTRAIN_USER_CHECK(bytes.size() >= 4, name << ": too short for an IDX header");
  RINGTRAIN_USER_CHECK(bytes[0] == 0 && bytes[1] == 0, name << ": not an IDX file (bad magic)");
  RINGTRAIN_USER_CHECK(static_cast<unsigned char>(bytes[2]) == kUnsignedByteType,
                       name << ": only unsigned-byte IDX files are supported");
  const auto rank = static_cast<size_t>(static_cast<unsigned char>(bytes[3]));
  RINGTRAIN_USER_CHECK(rank >= 1, name << ": IDX file with no dimensions");
  const size_t headerSize = 4 + 4 * rank;
  RINGTRAIN_USER_CHECK(bytes.size() >= headerSize, name << ": truncated IDX header");

  std::vector<int64_t> shape;
  uint64_t elements = 1;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t extent = bigEndian32(bytes, 4 + 4 * d);
    // An empty dimension holds no data; rejecting it also keeps absurd extents next to it from
    // reaching the tensor's stride arithmetic.
    RINGTRAIN_USER_CHECK(extent > 0, name << ": dimension " << d << " is empty (no data)");
    shape.push_back(extent);
    elements *= extent;
    RINGTRAIN_USER_CHECK(elements <= bytes.size(), name << ": dimensions exceed the file size");
  }
  RINGTRAIN_USER_CHECK(bytes.size() - headerSize == elements,
                       name << ": header promises " << elements << " bytes of data, file has "
                            << bytes.size() - headerSize);
  at::Tensor values = at::empty(shape, at::kByte);
  std::memcpy(values.data_ptr(), bytes.data() + headerSize, elements);
  return values;
}

Dataset readIdxDirectory(const std::string& directory, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const auto path = [&](const char* suffix) {
    return (std::filesystem::path(directory) / (prefix + suffix)).string();
  };
  const std::string imagesPath = path("-images-idx3-ubyte");
  const std::string labelsPath = path("-labels-idx1-ubyte");
  at::Tensor images = parseIdx(readFile(imagesPath), imagesPath);
  at::Tensor labels = parseIdx(readFile(labelsPath), labelsPath);
  RINGTRAIN_USER_CHECK(images.dim() == 3, imagesPath << ": expected [N, rows, cols] images");
  RINGTRAIN_USER_CHECK(labels.dim() == 1, labelsPath << ": expected a vector of labels");
  RINGTRAIN_USER_CHECK(images.size(0) == labels.size(0),
                       imagesPath << " has " << images.size(0) << " images but " << labelsPath
                                  << " has " << labels.size(0) << " labels");
  RINGTRAIN_USER_CHECK(labels.size(0) > 0, labelsPath << ": no samples");

  Dataset dataset;
  dataset.features = images.unsqueeze(1).to(at::kFloat).div_(255.0);  // [N, 1, rows, cols]
  dataset.labels = labels.to(at::kLong);
  dataset.numClasses = dataset.labels.max().item<int64_t>() + 1;
  dataset.source = directory;
  return dataset;
}

}  // namespace ringtrain::data

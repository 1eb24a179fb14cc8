// MNIST's IDX format: big-endian magic (0x0000 type dims), big-endian dimension sizes, raw data.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringtrain/data/Dataset.h"

namespace ringtrain::data {

// Pixels are read as byte x kIdxPixelScale, in [0, 1]: in memory and from shards alike.
constexpr double kIdxPixelScale = 1.0 / 255.0;

struct IdxHeader {
  std::vector<int64_t> shape;
  size_t headerBytes = 0;  // where the data starts
  uint64_t elements = 0;
};
// Parses the header at the start of `bytes` of a file of `fileBytes` bytes, checking that the
// data the header promises is exactly what follows it.
IdxHeader parseIdxHeader(std::string_view bytes, uint64_t fileBytes, const std::string& name);

// Reads an unsigned-byte IDX file of any rank; `name` is used in error messages.
at::Tensor parseIdx(const std::string& bytes, const std::string& name);

// DIR/{train,t10k}-images-idx3-ubyte and DIR/{train,t10k}-labels-idx1-ubyte.
std::pair<std::string, std::string> idxFilesOf(const std::string& directory, Split split);

// Reads DIR/{train,t10k}-images-idx3-ubyte and -labels-idx1-ubyte; pixels are scaled to [0, 1].
Dataset readIdxDirectory(const std::string& directory, Split split);

}  // namespace ringtrain::data

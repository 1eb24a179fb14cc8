// The header of a NumPy .npy file (format versions 1 to 3): element type, shape, where the data
// starts. Only C-order, little-endian arrays of plain numbers are accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringtrain::data {

struct NpyHeader {
  char kind = 'f';  // 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool
  size_t elementBytes = 0;
  std::vector<int64_t> shape;
  size_t dataOffset = 0;
  uint64_t elements = 0;
};

// Parses the header at the start of `bytes` of a file of `fileBytes` bytes, checking that the
// data the header promises is exactly what follows it; UserError naming `name`.
NpyHeader parseNpyHeader(std::string_view bytes, uint64_t fileBytes, const std::string& name);

// Bytes to read to be sure to hold any header parseNpyHeader accepts.
constexpr size_t kNpyHeaderReadBytes = 65536 + 16;

}  // namespace ringtrain::data

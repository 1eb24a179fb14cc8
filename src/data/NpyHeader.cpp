#include "data/NpyHeader.h"

#include <cctype>
#include <cstring>

#include "ringtrain/util/Error.h"
#include "util/Numbers.h"

namespace ringtrain::data {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// Returns the text after `'key':`, with leading spaces skipped.
std::string_view valueOf(std::string_view dict, const std::string& key, const std::string& name) {
  const std::string quoted = "'" + key + "'";
  const size_t at = dict.find(quoted);
  RINGTRAIN_USER_CHECK(at != std::string_view::npos, name << ": .npy header lacks '" << key << "'");
  size_t colon = at + quoted.size();
  while (colon < dict.size() && dict[colon] == ' ') ++colon;
  RINGTRAIN_USER_CHECK(colon < dict.size() && dict[colon] == ':',
                       name << ": malformed .npy header near '" << key << "'");
  std::string_view value = dict.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return value;
}

std::vector<int64_t> parseShape(std::string_view value, const std::string& name) {
  RINGTRAIN_USER_CHECK(!value.empty() && value.front() == '(',
                       name << ": .npy shape is not a tuple");
  const size_t close = value.find(')');
  RINGTRAIN_USER_CHECK(close != std::string_view::npos, name << ": .npy shape is not closed");
  std::string_view inside = value.substr(1, close - 1);
  std::vector<int64_t> shape;
  while (true) {
    while (!inside.empty() && inside.front() == ' ') inside.remove_prefix(1);
    if (inside.empty()) break;
    const size_t comma = inside.find(',');
    std::string_view item = inside.substr(0, comma);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const auto extent = parseInt64(item);
    RINGTRAIN_USER_CHECK(extent && *extent >= 0,
                         name << ": .npy shape entry '" << item << "' is not a size");
    shape.push_back(*extent);
    if (comma == std::string_view::npos) break;
    inside.remove_prefix(comma + 1);
  }
  return shape;
}

}  // namespace

NpyHeader parseNpyHeader(std::string_view bytes, uint64_t fileBytes, const std::string& name) {
  RINGTRAIN_USER_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), kMagic, kMagicBytes) == 0,
                       name << ": not a .npy file (bad magic)");
  const auto major = static_cast<unsigned char>(bytes[6]);
  RINGTRAIN_USER_CHECK(major >= 1 && major <= 3,
                       name << ": .npy format version " << int{major} << " is not supported");
  size_t headerBytes = 0;
  size_t start = 0;
  if (major == 1) {
    headerBytes = static_cast<unsigned char>(bytes[8]) |
                  static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    start = 10;
  } else {
    RINGTRAIN_USER_CHECK(bytes.size() >= 12, name << ": truncated .npy header");
    for (int i = 3; i >= 0; --i)
      headerBytes = headerBytes << 8 | static_cast<unsigned char>(bytes[8 + i]);
    start = 12;
  }
  RINGTRAIN_USER_CHECK(
      headerBytes <= kNpyHeaderReadBytes - start && start + headerBytes <= bytes.size(),
      name << ": truncated .npy header");
  const std::string_view dict = bytes.substr(start, headerBytes);

  NpyHeader header;
  header.dataOffset = start + headerBytes;
  std::string_view descr = valueOf(dict, "descr", name);
  RINGTRAIN_USER_CHECK(descr.size() >= 5 && descr[0] == '\'',
                       name << ": .npy descr is not a simple type");
  descr = descr.substr(1, descr.find('\'', 1) - 1);
  RINGTRAIN_USER_CHECK(
      descr.size() >= 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '='),
      name << ": .npy element type '" << descr << "' is not a little-endian number");
  header.kind = descr[1];
  const auto width = parseInt64(descr.substr(2));
  RINGTRAIN_USER_CHECK(width && (*width == 1 || *width == 2 || *width == 4 || *width == 8) &&
                           std::strchr("fiub", header.kind) != nullptr &&
                           (header.kind != 'f' || *width >= 2) &&
                           (header.kind != 'b' || *width == 1),
                       name << ": .npy element type '" << descr << "' is not supported");
  header.elementBytes = static_cast<size_t>(*width);

  const std::string_view order = valueOf(dict, "fortran_order", name);
  RINGTRAIN_USER_CHECK(
      order.rfind("False", 0) == 0,
      name << ": Fortran-ordered .npy arrays are not supported (save it C-ordered)");
  header.shape = parseShape(valueOf(dict, "shape", name), name);
  RINGTRAIN_USER_CHECK(!header.shape.empty(), name << ": a .npy scalar holds no samples");

  header.elements = 1;
  for (const int64_t extent : header.shape) {
    RINGTRAIN_USER_CHECK(extent > 0, name << ": .npy array has an empty dimension");
    RINGTRAIN_USER_CHECK(static_cast<uint64_t>(extent) <= fileBytes / header.elements,
                         name << ": .npy dimensions exceed the file size");
    header.elements *= static_cast<uint64_t>(extent);
  }
  RINGTRAIN_USER_CHECK(
      fileBytes >= header.dataOffset &&
          header.elements <= (fileBytes - header.dataOffset) / header.elementBytes &&
          fileBytes - header.dataOffset == header.elements * header.elementBytes,
      name << ": .npy header promises " << header.elements << " elements of " << header.elementBytes
           << " bytes, the file holds "
           << (fileBytes >= header.dataOffset ? fileBytes - header.dataOffset : 0)
           << " bytes of data");
  return header;
}

}  // namespace ringtrain::data

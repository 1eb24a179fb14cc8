#include "data/IdxReader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

std::string idx(const std::vector<uint32_t>& shape, const std::string& payload) {
  std::string bytes{'\0', '\0', '\x08', static_cast<char>(shape.size())};
  for (const uint32_t extent : shape) {
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<char>(extent >> shift));
  }
  return bytes + payload;
}

TEST(IdxReader, ReadsShapeAndBytes) {
  const at::Tensor values = parseIdx(idx({2, 3}, std::string("\x01\x02\x03\x04\x05\xff", 6)), "x");
  EXPECT_EQ(values.sizes().vec(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values[1][2].item<uint8_t>(), 255);
  EXPECT_EQ(values[0][1].item<uint8_t>(), 2);
}

// Found by fuzzing: a zero extent let absurd extents beside it through to an empty tensor (a
// null copy, or a stride overflow inside LibTorch).
TEST(IdxReader, AnEmptyDimensionIsRejected) {
  EXPECT_THROW(parseIdx(idx({0}, ""), "x"), UserError);
  EXPECT_THROW(parseIdx(idx({3, 0}, ""), "x"), UserError);
  EXPECT_THROW(parseIdx(idx({0, 4244273656u, 4159506187u}, ""), "x"), UserError);
}

TEST(IdxReader, RejectsMalformedFiles) {
  EXPECT_THROW(parseIdx("ab", "x"), UserError);
  EXPECT_THROW(parseIdx(std::string("\x01\x00\x08\x01", 4) + std::string(4, '\0'), "x"), UserError);
  EXPECT_THROW(parseIdx(idx({4}, "abc"), "x"), UserError);                     // short data
  EXPECT_THROW(parseIdx(idx({2}, "abc"), "x"), UserError);                     // extra data
  EXPECT_THROW(parseIdx(idx({1u << 31, 1u << 31}, ""), "x"), UserError);       // absurd shape
  EXPECT_THROW(parseIdx(std::string("\0\0\x08\x03\0\0", 6), "x"), UserError);  // cut header
}

}  // namespace
}  // namespace ringtrain::data

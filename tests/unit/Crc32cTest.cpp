#include "util/Crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace ringtrain {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The check value of CRC-32C (RFC 3720 and every CRC catalogue) for the ASCII digits 1..9.
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32cPortable("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, ChainsAndAgreesWithThePortableTableAtOddSizes) {
  std::mt19937 random(5);
  std::string bytes(100003, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  for (const size_t size : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63}, bytes.size()}) {
    const std::string_view data(bytes.data(), size);
    EXPECT_EQ(crc32c(data), crc32cPortable(data)) << size;
    const size_t cut = size / 3;
    EXPECT_EQ(crc32c(data.substr(cut), crc32c(data.substr(0, cut))), crc32c(data)) << size;
  }
}

}  // namespace
}  // namespace ringtrain

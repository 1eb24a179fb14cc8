#include "io/Safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::io {
namespace {

std::string withHeader(const std::string& json, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  return bytes + json + data;
}

TEST(Safetensors, RoundTripsTensorsAndMetadata) {
  const NamedTensors tensors{{"w", at::arange(6, at::kFloat).view({2, 3})},
                             {"b", at::tensor({-1.5, 2.25}, at::kDouble)},
                             {"ids", at::arange(5, at::kLong)},
                             {"half", at::ones({3}, at::kHalf)},
                             {"empty", at::empty({0, 4}, at::kFloat)}};
  Metadata metadata;
  const NamedTensors decoded =
      decodeSafetensors(encodeSafetensors(tensors, {{"model", "mlp"}}), "t", &metadata);
  EXPECT_EQ(metadata.at("model"), "mlp");
  ASSERT_EQ(decoded.size(), tensors.size());
  for (const auto& original : tensors) {
    const std::string& name = original.first;
    const auto found = std::find_if(decoded.begin(), decoded.end(),
                                    [&](const auto& item) { return item.first == name; });
    ASSERT_NE(found, decoded.end()) << name;
    EXPECT_TRUE(found->second.equal(original.second)) << name;
  }
}

TEST(Safetensors, DataStartsEightByteAligned) {
  const std::string bytes = encodeSafetensors({{"x", at::ones({3})}});
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(headerSize % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + headerSize + 12);
}

TEST(Safetensors, RejectsMalformedFiles) {
  const std::string data(16, '\0');
  EXPECT_THROW(decodeSafetensors("abc", "t"), UserError);
  EXPECT_THROW(decodeSafetensors(std::string(8, '\xff'), "t"), UserError);
  EXPECT_THROW(decodeSafetensors(withHeader("{not json", data), "t"), UserError);
  EXPECT_THROW(
      decodeSafetensors(
          withHeader(R"({"a":{"dtype":"F32","shape":[5],"data_offsets":[0,20]}})", data), "t"),
      UserError);
  EXPECT_THROW(
      decodeSafetensors(
          withHeader(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data), "t"),
      UserError);
  EXPECT_THROW(
      decodeSafetensors(
          withHeader(R"({"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}})", data), "t"),
      UserError);
  EXPECT_THROW(
      decodeSafetensors(
          withHeader(
              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
              data),
          "t"),
      UserError);
  EXPECT_THROW(
      decodeSafetensors(
          withHeader(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data), "t"),
      UserError);
  EXPECT_THROW(decodeSafetensors(withHeader(R"({"a":[1,2]})", data), "t"), UserError);
}

}  // namespace
}  // namespace ringtrain::io

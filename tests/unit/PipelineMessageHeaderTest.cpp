#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "pipeline/MessageHeader.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::pipeline {
namespace {

TEST(PipelineMessageHeader, SurvivesEncodingForEveryRankOfShape) {
  for (int dims = 0; dims <= 10; ++dims) {
    std::vector<int64_t> shape;
    for (int d = 0; d < dims; ++d) shape.push_back(1 + d % 3);
    const at::Tensor tensor = at::empty(shape, at::kBFloat16);
    const MessageHeader header =
        MessageHeader::of(41 + dims, {Payload::kGradient, 7 - dims / 2}, tensor);
    const MessageHeader decoded = decodeHeader(encodeHeader(header));
    EXPECT_TRUE(decoded == header) << describe(decoded) << " vs " << describe(header);
    EXPECT_EQ(decoded.shape, shape);
    EXPECT_EQ(decoded.dtype, at::kBFloat16);
  }
}

TEST(PipelineMessageHeader, TooManyDimensionsAreRefusedBeforeSending) {
  const at::Tensor tensor = at::empty(std::vector<int64_t>(kHeaderWords - 5, 1));
  EXPECT_THROW(encodeHeader(MessageHeader::of(1, {Payload::kActivation, 0}, tensor)),
               InternalError);
}

TEST(PipelineMessageHeader, PayloadBytesAreNotAHeader) {
  EXPECT_THROW(decodeHeader(at::randn({kHeaderWords}, at::kDouble).view(at::kLong)), UserError);
  EXPECT_THROW(decodeHeader(at::zeros({kHeaderWords}, at::kLong)), UserError);
}

TEST(PipelineMessageHeader, EveryFieldCountsInTheComparison) {
  const at::Tensor tensor = at::empty({4, 8});
  const MessageHeader base = MessageHeader::of(3, {Payload::kActivation, 2}, tensor);
  EXPECT_FALSE(headerMismatch(0, 1, base, base));
  std::vector<MessageHeader> others(5, base);
  others[0].step = 4;
  others[1].payload = Payload::kGradient;
  others[2].microBatch = 1;
  others[3].dtype = at::kHalf;
  others[4].shape = {8, 4};
  for (const MessageHeader& other : others) {
    const auto problem = headerMismatch(0, 1, other, base);
    ASSERT_TRUE(problem) << describe(other);
    EXPECT_NE(
        problem->find("stage 0 sent " + describe(other) + "; stage 1 expected " + describe(base)),
        std::string::npos)
        << *problem;
  }
}

}  // namespace
}  // namespace ringtrain::pipeline

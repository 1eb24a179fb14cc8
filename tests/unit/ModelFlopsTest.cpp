// Model FLOPs utilisation's parts (train/ModelFlops.h): the count of a step's FLOPs and the
// datasheet peaks.
#include <gtest/gtest.h>

#include "train/ModelFlops.h"

namespace ringtrain::train {
namespace {

TEST(ModelFlops, SixPerParameterAndTokenPlusAttention) {
  EXPECT_DOUBLE_EQ(trainingFlopsPerSample(1000, 0), 6000.0);  // not tokens: one per sample
  EXPECT_DOUBLE_EQ(trainingFlopsPerSample(1000, 64), 6000.0 * 64);
  const models::GptShape gpt{2, 128, 4};
  // 6 N T + 12 L C T^2 (PaLM's count, appendix B).
  EXPECT_DOUBLE_EQ(trainingFlopsPerSample(1000, 64, &gpt), 6000.0 * 64 + 12.0 * 2 * 128 * 64 * 64);
}

TEST(ModelFlops, PeaksOfKnownGpusAtTheRunsPrecision) {
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA H100 80GB HBM3", Precision::kBf16), 989e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA H100 80GB HBM3", Precision::kFp32), 67e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA H100 PCIe", Precision::kBf16), 756e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA H200", Precision::kFp16), 989e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA A100-SXM4-80GB", Precision::kBf16), 312e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("Tesla V100-SXM2-16GB", Precision::kFp16), 125e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA L4", Precision::kBf16), 121e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA L40S", Precision::kBf16), 362e12);
  EXPECT_DOUBLE_EQ(*peakFlopsPerSecond("NVIDIA GH200 480GB", Precision::kBf16), 989e12);
  // No bf16 tensor cores; a GPU or a device the table does not know.
  EXPECT_FALSE(peakFlopsPerSecond("Tesla V100-SXM2-16GB", Precision::kBf16));
  EXPECT_FALSE(peakFlopsPerSecond("NVIDIA GeForce RTX 4090", Precision::kBf16));
  EXPECT_FALSE(peakFlopsPerSecond("NVIDIA L40", Precision::kBf16));  // not an L4
  EXPECT_FALSE(peakFlopsPerSecond("", Precision::kFp32));
}

}  // namespace
}  // namespace ringtrain::train

// The kernels' host references against plain LibTorch at odd sizes, and their CUDA launchers
// against the references where a GPU is visible.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <limits>

#include "GradientNorm.h"
#include "ringtrain/platform/CudaStream.h"

namespace ringtrain::kernels {
namespace {

// Tensors of sizes that straddle the 8-lane loop and the 256-element blocks.
std::vector<at::Tensor> oddTensors(const at::TensorOptions& options = {}) {
  std::vector<at::Tensor> tensors;
  at::manual_seed(5);
  for (const int64_t size : {1, 7, 8, 9, 255, 256, 257, 1000, 4099}) {
    tensors.push_back(at::randn({size}, options.dtype(at::kFloat)) * 3);
  }
  return tensors;
}

std::vector<FloatSpan> spansOf(const std::vector<at::Tensor>& tensors) {
  std::vector<FloatSpan> spans;
  for (const at::Tensor& tensor : tensors)
    spans.push_back({tensor.const_data_ptr<float>(), tensor.numel()});
  return spans;
}

double referenceSumOfSquares(const std::vector<at::Tensor>& tensors) {
  double total = 0;
  for (const at::Tensor& tensor : tensors)
    total += tensor.to(at::kDouble).pow(2).sum().item<double>();
  return total;
}

TEST(GradientNormReference, MatchesLibTorchAtOddSizes) {
  const std::vector<at::Tensor> tensors = oddTensors();
  EXPECT_NEAR(sumOfSquaresCpu(spansOf(tensors)), referenceSumOfSquares(tensors),
              1e-6 * referenceSumOfSquares(tensors));
  for (const at::Tensor& tensor : tensors) {
    EXPECT_NEAR(sumOfSquaresCpu({{tensor.const_data_ptr<float>(), tensor.numel()}}),
                referenceSumOfSquares({tensor}), 1e-6 * referenceSumOfSquares({tensor}) + 1e-12)
        << tensor.numel() << " elements";
  }
  EXPECT_EQ(sumOfSquaresCpu({}), 0.0);
}

TEST(GradientNormReference, AnyNonFiniteElementMakesItNonFinite) {
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    std::vector<at::Tensor> tensors = oddTensors();
    for (const int64_t at : {0L, 255L, 4098L}) {
      std::vector<at::Tensor> poisoned = tensors;
      poisoned.back() = tensors.back().clone();
      poisoned.back()[at] = bad;
      EXPECT_FALSE(std::isfinite(sumOfSquaresCpu(spansOf(poisoned)))) << bad << " at " << at;
    }
  }
  // A finite float whose square overflows float32 still counts, as the norm of such gradients
  // overflows too.
  const at::Tensor huge = at::full({3}, 3e38f);
  EXPECT_FALSE(std::isfinite(sumOfSquaresCpu(spansOf({huge}))));
}

TEST(GradientNormCuda, MatchesTheReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  ASSERT_TRUE(cudaKernelsCompiledIn());
  const std::vector<at::Tensor> host = oddTensors();
  std::vector<at::Tensor> device;
  for (const at::Tensor& tensor : host) device.push_back(tensor.cuda());
  at::Tensor result = at::empty({1}, at::TensorOptions().device(at::kCUDA).dtype(at::kDouble));
  sumOfSquaresCuda(spansOf(device), result.data_ptr<double>(), platform::currentCudaStream(0));
  const double reference = sumOfSquaresCpu(spansOf(host));
  EXPECT_NEAR(result.item<double>(), reference, 1e-6 * reference);
  device.back()[17] = std::numeric_limits<float>::quiet_NaN();
  sumOfSquaresCuda(spansOf(device), result.data_ptr<double>(), platform::currentCudaStream(0));
  EXPECT_FALSE(std::isfinite(result.item<double>()));
}

}  // namespace
}  // namespace ringtrain::kernels

// The kernels' host references against plain LibTorch at odd sizes, and their CUDA launchers
// against the references where a GPU is visible.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <limits>

#include "BucketPack.h"
#include "GradientNorm.h"
#include "OptimizerStep.h"
#include "WireCast.h"
#include "platform/CudaStream.h"

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

// --- Bucket packing ----------------------------------------------------------------------------

TEST(BucketPackReference, LaysTheScaledSourcesEndToEnd) {
  const std::vector<at::Tensor> tensors = oddTensors();
  for (const float scale : {1.0f, 0.25f, 1.0f / 3.0f}) {
    const at::Tensor expected = at::cat(tensors).mul(scale);
    at::Tensor bucket = at::full({expected.numel()}, -7.0f);
    packScaledCpu(spansOf(tensors), bucket.data_ptr<float>(), scale);
    EXPECT_TRUE(bucket.equal(expected)) << "scale " << scale;
  }
}

TEST(BucketPackReference, ScalesInPlaceWhenTheSourceIsTheBucket) {
  const at::Tensor original = oddTensors().back();
  at::Tensor bucket = original.clone();
  packScaledCpu({{bucket.const_data_ptr<float>(), bucket.numel()}}, bucket.data_ptr<float>(),
                1.0f / 3.0f);
  EXPECT_TRUE(bucket.equal(original.mul(1.0f / 3.0f)));
}

// --- fp16 and bf16 casts -------------------------------------------------------------------------

// Ordinary values, and the edges of both formats: subnormals and the ties around them, the largest
// finite fp16 and the first value that rounds to infinity, signed zeros, infinities, NaN.
at::Tensor castCases() {
  at::manual_seed(11);
  std::vector<float> edges = {0.0f,
                              -0.0f,
                              1.0f,
                              -1.0f,
                              65504.0f,
                              65519.99f,
                              65520.0f,
                              -65520.0f,
                              1e10f,
                              6.1e-5f,
                              6.0e-8f,
                              2.9802322e-8f,
                              2.9802326e-8f,
                              5.9604645e-8f,
                              8.940697e-8f,
                              1e-30f,
                              1.17549435e-38f,
                              3.4e38f,
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity(),
                              std::numeric_limits<float>::denorm_min()};
  // Random bit patterns cover every exponent, and so every rounding path, of both formats.
  const at::Tensor randomBits = at::randint(0, 1LL << 32, {200003}, at::kLong);
  const at::Tensor random = randomBits.to(at::kInt).view(at::kFloat);
  return at::cat({at::tensor(edges), random, at::randn({4099}) * 1000});
}

std::vector<std::pair<WireFormat, at::ScalarType>> wireFormats() {
  return {{WireFormat::kFp16, at::kHalf}, {WireFormat::kBf16, at::kBFloat16}};
}

// Bit for bit, except that every NaN is as good as any other.
void expectSameBits(const at::Tensor& actual, const at::Tensor& expected, const char* what) {
  const at::Tensor bothNan = at::isnan(actual.to(at::kFloat)) & at::isnan(expected.to(at::kFloat));
  const at::Tensor differ =
      (actual.view(at::kShort) != expected.view(at::kShort)) & bothNan.logical_not();
  EXPECT_EQ(differ.sum().item<int64_t>(), 0) << what;
}

TEST(WireCastReference, NarrowsAsLibTorchDoes) {
  const at::Tensor values = castCases();
  for (const auto& [format, type] : wireFormats()) {
    for (const float scale : {1.0f, 0.5f, 1.0f / 3.0f}) {
      at::Tensor wire = at::empty({values.numel()}, at::TensorOptions().dtype(type));
      narrowScaledCpu(values.const_data_ptr<float>(), static_cast<uint16_t*>(wire.data_ptr()),
                      values.numel(), scale, format);
      expectSameBits(wire, values.mul(scale).to(type), type == at::kHalf ? "fp16" : "bf16");
    }
  }
}

TEST(WireCastReference, WidensEveryBitPatternAsLibTorchDoes) {
  const at::Tensor every = at::arange(0, 65536, at::kInt).to(at::kShort);
  for (const auto& [format, type] : wireFormats()) {
    const at::Tensor wire = every.view(type);
    at::Tensor widened = at::empty({65536}, at::kFloat);
    widenCpu(static_cast<const uint16_t*>(wire.const_data_ptr()), widened.data_ptr<float>(), 65536,
             format);
    const at::Tensor expected = wire.to(at::kFloat);
    const at::Tensor bothNan = at::isnan(widened) & at::isnan(expected);
    EXPECT_EQ(((widened.view(at::kInt) != expected.view(at::kInt)) & bothNan.logical_not())
                  .sum()
                  .item<int64_t>(),
              0);
  }
}

// --- Fused optimizer steps -----------------------------------------------------------------------

struct OptimizerState {
  std::vector<at::Tensor> parameters, gradients, first, second;
};

OptimizerState optimizerState(const at::TensorOptions& options = {}) {
  OptimizerState state;
  state.parameters = oddTensors(options);
  at::manual_seed(23);
  for (const at::Tensor& parameter : state.parameters) {
    state.gradients.push_back(at::randn_like(parameter));
    state.first.push_back(at::randn_like(parameter) * 0.1);
    state.second.push_back(at::rand_like(parameter) * 0.01);
  }
  return state;
}

std::vector<SgdSpan> sgdSpans(OptimizerState& state, bool withMomentum) {
  std::vector<SgdSpan> spans;
  for (size_t i = 0; i < state.parameters.size(); ++i) {
    spans.push_back(
        {state.parameters[i].data_ptr<float>(), state.gradients[i].const_data_ptr<float>(),
         withMomentum ? state.first[i].data_ptr<float>() : nullptr, state.parameters[i].numel()});
  }
  return spans;
}

std::vector<AdamWSpan> adamWSpans(OptimizerState& state) {
  std::vector<AdamWSpan> spans;
  for (size_t i = 0; i < state.parameters.size(); ++i) {
    spans.push_back({state.parameters[i].data_ptr<float>(),
                     state.gradients[i].const_data_ptr<float>(), state.first[i].data_ptr<float>(),
                     state.second[i].data_ptr<float>(), state.parameters[i].numel()});
  }
  return spans;
}

// SGD as torch.optim.SGD writes it, in plain tensor ops.
void referenceSgd(OptimizerState& state, double lr, double momentum, double dampening,
                  double weightDecay, bool nesterov, bool firstStep) {
  for (size_t i = 0; i < state.parameters.size(); ++i) {
    at::Tensor direction = state.gradients[i].add(state.parameters[i], weightDecay);
    if (momentum != 0) {
      if (firstStep) {
        state.first[i].copy_(direction);
      } else {
        state.first[i].mul_(momentum).add_(direction, 1 - dampening);
      }
      direction = nesterov ? direction.add(state.first[i], momentum) : state.first[i];
    }
    state.parameters[i].add_(direction, -lr);
  }
}

TEST(OptimizerStepReference, SgdMatchesLibTorchOps) {
  struct Case {
    double momentum, dampening, weightDecay;
    bool nesterov, firstStep;
  };
  for (const Case c : {Case{0, 0, 0, false, false}, Case{0.9, 0, 0, false, true},
                       Case{0.9, 0, 1e-2, true, false}, Case{0.8, 0.3, 5e-3, false, false}}) {
    OptimizerState fused = optimizerState();
    OptimizerState reference = optimizerState();
    sgdStepCpu(sgdSpans(fused, c.momentum != 0),
               sgdSettings(0.05, c.momentum, c.dampening, c.weightDecay, c.nesterov), c.firstStep);
    referenceSgd(reference, 0.05, c.momentum, c.dampening, c.weightDecay, c.nesterov, c.firstStep);
    for (size_t i = 0; i < fused.parameters.size(); ++i) {
      EXPECT_TRUE(at::allclose(fused.parameters[i], reference.parameters[i], 1e-6, 1e-7))
          << "momentum " << c.momentum << ", tensor " << i;
      EXPECT_TRUE(at::allclose(fused.first[i], reference.first[i], 1e-6, 1e-7));
    }
  }
}

TEST(OptimizerStepReference, AdamWMatchesLibTorchOps) {
  const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.05;
  OptimizerState fused = optimizerState();
  OptimizerState reference = optimizerState();
  for (const int64_t step : {1, 2, 3, 50}) {
    std::vector<AdamWFactors> factors(fused.parameters.size(),
                                      adamWFactors(lr, weightDecay, beta1, beta2, step));
    adamWStepCpu(adamWSpans(fused), factors, adamWSettings(beta1, beta2, eps));
    for (size_t i = 0; i < reference.parameters.size(); ++i) {
      reference.parameters[i].mul_(1 - lr * weightDecay);
      reference.first[i].mul_(beta1).add_(reference.gradients[i], 1 - beta1);
      reference.second[i].mul_(beta2).addcmul_(reference.gradients[i], reference.gradients[i],
                                               1 - beta2);
      const at::Tensor denominator =
          (reference.second[i].sqrt() / std::sqrt(1 - std::pow(beta2, step))).add_(eps);
      reference.parameters[i].addcdiv_(reference.first[i], denominator,
                                       -lr / (1 - std::pow(beta1, step)));
    }
    for (size_t i = 0; i < fused.parameters.size(); ++i) {
      EXPECT_TRUE(at::allclose(fused.parameters[i], reference.parameters[i], 1e-6, 1e-7))
          << "step " << step << ", tensor " << i;
      EXPECT_TRUE(at::allclose(fused.second[i], reference.second[i], 1e-6, 1e-9));
    }
  }
}

// --- CUDA launchers against the references
// --------------------------------------------------------

std::vector<at::Tensor> onGpu(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> device;
  for (const at::Tensor& tensor : tensors) device.push_back(tensor.cuda());
  return device;
}

TEST(BucketPackCuda, MatchesTheReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  const std::vector<at::Tensor> host = oddTensors();
  const std::vector<at::Tensor> device = onGpu(host);
  at::Tensor expected = at::empty({at::cat(host).numel()});
  packScaledCpu(spansOf(host), expected.data_ptr<float>(), 0.25f);
  at::Tensor bucket = at::empty({expected.numel()}, at::TensorOptions().device(at::kCUDA));
  packScaledCuda(spansOf(device), bucket.data_ptr<float>(), 0.25f, platform::currentCudaStream(0));
  EXPECT_TRUE(bucket.cpu().equal(expected));
}

TEST(WireCastCuda, MatchesTheReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  const at::Tensor values = castCases();
  const at::Tensor deviceValues = values.cuda();
  for (const auto& [format, type] : wireFormats()) {
    at::Tensor expected = at::empty({values.numel()}, at::TensorOptions().dtype(type));
    narrowScaledCpu(values.const_data_ptr<float>(), static_cast<uint16_t*>(expected.data_ptr()),
                    values.numel(), 0.5f, format);
    at::Tensor wire = at::empty_like(expected, expected.options().device(at::kCUDA));
    narrowScaledCuda(deviceValues.const_data_ptr<float>(), static_cast<uint16_t*>(wire.data_ptr()),
                     values.numel(), 0.5f, format, platform::currentCudaStream(0));
    expectSameBits(wire.cpu(), expected, "narrowed on the GPU");
    at::Tensor widened = at::empty({values.numel()}, at::TensorOptions().device(at::kCUDA));
    widenCuda(static_cast<const uint16_t*>(wire.const_data_ptr()), widened.data_ptr<float>(),
              values.numel(), format, platform::currentCudaStream(0));
    at::Tensor widenedHost = at::empty({values.numel()});
    widenCpu(static_cast<const uint16_t*>(expected.const_data_ptr()), widenedHost.data_ptr<float>(),
             values.numel(), format);
    EXPECT_TRUE(at::allclose(widened.cpu(), widenedHost, 0, 0, /*equal_nan=*/true));
  }
}

TEST(OptimizerStepCuda, MatchesTheReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible";
  const auto gpu = at::TensorOptions().device(at::kCUDA);
  OptimizerState host = optimizerState();
  OptimizerState device = optimizerState(gpu);
  const SgdSettings sgd = sgdSettings(0.05, 0.9, 0, 1e-2, true);
  sgdStepCpu(sgdSpans(host, true), sgd, false);
  sgdStepCuda(sgdSpans(device, true), sgd, false, platform::currentCudaStream(0));
  const std::vector<AdamWFactors> factors(host.parameters.size(),
                                          adamWFactors(1e-2, 0.05, 0.9, 0.999, 3));
  const AdamWSettings adamW = adamWSettings(0.9, 0.999, 1e-8);
  adamWStepCpu(adamWSpans(host), factors, adamW);
  adamWStepCuda(adamWSpans(device), factors, adamW, platform::currentCudaStream(0));
  for (size_t i = 0; i < host.parameters.size(); ++i) {
    // nvcc contracts multiply-adds into FMAs, which round once where the host rounds twice.
    EXPECT_TRUE(at::allclose(device.parameters[i].cpu(), host.parameters[i], 1e-5, 1e-6)) << i;
    EXPECT_TRUE(at::allclose(device.second[i].cpu(), host.second[i], 1e-5, 1e-8)) << i;
  }
}

}  // namespace
}  // namespace ringtrain::kernels

#include "train/NonFinite.h"

#include <ATen/ATen.h>

#include <cmath>
#include <optional>
#include <sstream>

#include "GradientNorm.h"
#include "platform/CudaStream.h"

namespace ringtrain::train {

namespace {

// One pass over float32 memory, or nothing where `tensors` are not all contiguous float32 on one
// kind of device.
std::optional<std::vector<kernels::FloatSpan>> floatSpans(const std::vector<at::Tensor>& tensors,
                                                          bool onGpu) {
  std::vector<kernels::FloatSpan> spans;
  for (const at::Tensor& tensor : tensors) {
    if (tensor.scalar_type() != at::kFloat || !tensor.is_contiguous() ||
        tensor.is_cuda() != onGpu) {
      return std::nullopt;
    }
    spans.push_back({tensor.const_data_ptr<float>(), tensor.numel()});
  }
  return spans;
}

// LibTorch's norms, which are finite exactly when all elements are.
at::Tensor squaredNormOf(const std::vector<at::Tensor>& tensors) {
  return at::stack(at::_foreach_norm(tensors, 2)).to(at::kDouble).square().sum();
}

}  // namespace

std::vector<double> sumsOfSquares(const std::vector<std::vector<at::Tensor>>& groups) {
  std::vector<double> sums(groups.size(), 0.0);
  const at::Tensor* first = nullptr;
  for (const auto& group : groups) {
    if (!group.empty()) first = first ? first : &group.front();
  }
  if (!first) return sums;
  const bool onGpu = first->is_cuda();
  // On the GPU every group's sum lands in one device tensor, read back once.
  at::Tensor results =
      at::zeros({static_cast<int64_t>(groups.size())}, first->options().dtype(at::kDouble));
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) continue;
    const auto spans = floatSpans(groups[g], onGpu);
    if (!spans) {
      results[static_cast<int64_t>(g)] = squaredNormOf(groups[g]);
    } else if (onGpu) {
      kernels::sumOfSquaresCuda(*spans, results.data_ptr<double>() + g,
                                platform::currentCudaStream(first->get_device()));
    } else {
      results[static_cast<int64_t>(g)] = kernels::sumOfSquaresCpu(*spans);
    }
  }
  const at::Tensor host = results.cpu();
  for (size_t g = 0; g < groups.size(); ++g) sums[g] = host[static_cast<int64_t>(g)].item<double>();
  return sums;
}

double sumOfSquares(const std::vector<at::Tensor>& tensors) {
  return sumsOfSquares({tensors})[0];
}

double gradientMagnitude(const std::vector<at::Tensor>& parameters) {
  std::vector<at::Tensor> gradients;
  for (const at::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  return std::sqrt(sumOfSquares(gradients));
}

namespace {

// The C library writes NaN as "nan" or "-nan" depending on its sign bit, which means nothing.
std::string nonFiniteText(double value) {
  if (std::isnan(value)) return "nan";
  return value > 0 ? "inf" : "-inf";
}

}  // namespace

std::optional<std::string> nonFiniteProblem(double loss, double gradientMagnitude) {
  std::ostringstream problem;
  if (!std::isfinite(loss)) {
    problem << "non-finite loss (" << nonFiniteText(loss) << ")";
  } else if (!std::isfinite(gradientMagnitude)) {
    problem << "non-finite gradients (norm " << nonFiniteText(gradientMagnitude) << ", loss "
            << loss << ")";
  } else {
    return std::nullopt;
  }
  return problem.str();
}

}  // namespace ringtrain::train

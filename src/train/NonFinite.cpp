#include "train/NonFinite.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

#include "GradientNorm.h"
#include "platform/CudaStream.h"

namespace ringtrain::train {

double sumOfSquares(const std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return 0;
  const bool onGpu = tensors.front().is_cuda();
  std::vector<kernels::FloatSpan> spans;
  for (const at::Tensor& tensor : tensors) {
    if (tensor.scalar_type() != at::kFloat || !tensor.is_contiguous() ||
        tensor.is_cuda() != onGpu) {
      // Not one pass over float32 memory: LibTorch's norms, which are finite exactly when all
      // elements are.
      return at::stack(at::_foreach_norm(tensors, 2)).to(at::kDouble).square().sum().item<double>();
    }
    spans.push_back({tensor.const_data_ptr<float>(), tensor.numel()});
  }
  if (!onGpu) return kernels::sumOfSquaresCpu(spans);
  at::Tensor result = at::empty({1}, tensors.front().options().dtype(at::kDouble));
  kernels::sumOfSquaresCuda(spans, result.data_ptr<double>(),
                            platform::currentCudaStream(tensors.front().get_device()));
  return result.item<double>();
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

#include "ringtrain/train/NonFinite.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>

namespace ringtrain::train {

double gradientMagnitude(const std::vector<at::Tensor>& parameters) {
  std::vector<at::Tensor> gradients;
  for (const at::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) gradients.push_back(parameter.grad());
  }
  if (gradients.empty()) return 0;
  // The L2 norm is one vectorised pass (the L1 norm is several times slower on CPU), and it is
  // what --clip-grad-norm computes: a gradient whose norm overflows counts as not finite there
  // as well.
  const std::vector<at::Tensor> norms = at::_foreach_norm(gradients, 2);
  if (!norms.front().is_cpu()) return at::stack(norms).sum().item<double>();
  // On CPU every further tensor operation is dispatch overhead in a small model's step.
  double total = 0;
  for (const at::Tensor& norm : norms) {
    total += norm.scalar_type() == at::kFloat ? *norm.const_data_ptr<float>() : norm.item<double>();
  }
  return total;
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

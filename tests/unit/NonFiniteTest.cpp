#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "train/NonFinite.h"

namespace ringtrain::train {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Parameters of odd sizes with gradients, the last without (it took no part in the step).
std::vector<at::Tensor> parametersWithGradients() {
  std::vector<at::Tensor> parameters;
  for (int64_t size : {1, 7, 1000, 33}) {
    at::Tensor parameter = at::randn({size});
    parameter.mutable_grad() = at::randn({size});
    parameters.push_back(parameter);
  }
  parameters.push_back(at::randn({5}));
  return parameters;
}

TEST(NonFinite, GradientMagnitudeIsTheGlobalNormOfFiniteGradients) {
  const auto parameters = parametersWithGradients();
  // The global L2 norm, as --clip-grad-norm computes it.
  double squares = 0;
  for (const auto& p : parameters) {
    if (p.grad().defined()) squares += std::pow(p.grad().norm().item<double>(), 2);
  }
  const double expected = std::sqrt(squares);
  EXPECT_NEAR(gradientMagnitude(parameters), expected, 1e-5 * expected);
  EXPECT_EQ(gradientMagnitude({}), 0.0);
}

TEST(NonFinite, OneBadElementAnywhereMakesTheMagnitudeNonFinite) {
  for (double bad : {kNan, kInf, -kInf}) {
    for (size_t which = 0; which < 4; ++which) {
      auto parameters = parametersWithGradients();
      at::Tensor gradient = parameters[which].mutable_grad();
      gradient[gradient.numel() / 2] = bad;
      EXPECT_FALSE(std::isfinite(gradientMagnitude(parameters)))
          << "value " << bad << " in parameter " << which;
    }
  }
}

TEST(NonFinite, NamesWhatIsNotFinite) {
  EXPECT_EQ(nonFiniteProblem(0.5, 12.0), std::nullopt);
  EXPECT_EQ(nonFiniteProblem(-kNan, 12.0), "non-finite loss (nan)");
  EXPECT_EQ(nonFiniteProblem(kInf, kNan), "non-finite loss (inf)");
  EXPECT_EQ(nonFiniteProblem(0.25, kInf), "non-finite gradients (norm inf, loss 0.25)");
  EXPECT_EQ(nonFiniteProblem(0.25, kNan), "non-finite gradients (norm nan, loss 0.25)");
}

}  // namespace
}  // namespace ringtrain::train

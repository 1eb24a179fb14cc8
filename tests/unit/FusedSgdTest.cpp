#include "train/FusedSgd.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/sgd.h>

#include <vector>

namespace ringtrain::train {
namespace {

struct SgdCase {
  double momentum;
  double dampening;
  bool nesterov;
  double weightDecay;
};

std::vector<at::Tensor> makeParameters(int64_t seed) {
  at::manual_seed(seed);
  // Odd sizes, and one tensor that is a transposed (non-contiguous) view.
  return {at::randn({7, 13}).requires_grad_(), at::randn({5}).requires_grad_(),
          at::randn({3, 4}).t().contiguous().requires_grad_()};
}

class FusedSgdMatchesLibTorch : public ::testing::TestWithParam<SgdCase> {};

TEST_P(FusedSgdMatchesLibTorch, OverSeveralSteps) {
  const SgdCase c = GetParam();
  const auto options = torch::optim::SGDOptions(0.05)
                           .momentum(c.momentum)
                           .dampening(c.dampening)
                           .nesterov(c.nesterov)
                           .weight_decay(c.weightDecay);
  std::vector<at::Tensor> fusedParameters = makeParameters(3);
  std::vector<at::Tensor> referenceParameters = makeParameters(3);
  FusedSgd fused(fusedParameters, options);
  torch::optim::SGD reference(referenceParameters, options);
  for (int step = 0; step < 4; ++step) {
    at::manual_seed(100 + step);
    for (size_t p = 0; p < fusedParameters.size(); ++p) {
      // The middle parameter misses the first step, so it starts its momentum a step late.
      const at::Tensor grad = at::randn(fusedParameters[p].sizes());
      const bool skip = p == 1 && step == 0;
      fusedParameters[p].mutable_grad() = skip ? at::Tensor() : grad.clone();
      referenceParameters[p].mutable_grad() = skip ? at::Tensor() : grad.clone();
    }
    fused.step();
    reference.step();
    for (size_t p = 0; p < fusedParameters.size(); ++p) {
      EXPECT_TRUE(at::allclose(fusedParameters[p], referenceParameters[p], 1e-6, 1e-7))
          << "parameter " << p << " after step " << step;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Options, FusedSgdMatchesLibTorch,
                         ::testing::Values(SgdCase{0, 0, false, 0}, SgdCase{0.9, 0, false, 0},
                                           SgdCase{0.9, 0, true, 1e-2},
                                           SgdCase{0.8, 0.3, false, 5e-3}));

TEST(FusedSgd, KeepsMomentumWhereLibTorchSgdLooksForIt) {
  std::vector<at::Tensor> parameters = makeParameters(5);
  FusedSgd optimizer(parameters, torch::optim::SGDOptions(0.1).momentum(0.9));
  for (auto& parameter : parameters) parameter.mutable_grad() = at::ones_like(parameter);
  optimizer.step();
  ASSERT_EQ(optimizer.state().size(), parameters.size());
  const auto& state = static_cast<const torch::optim::SGDParamState&>(
      *optimizer.state().at(parameters[0].unsafeGetTensorImpl()));
  EXPECT_TRUE(state.momentum_buffer().equal(at::ones_like(parameters[0])));
}

}  // namespace
}  // namespace ringtrain::train

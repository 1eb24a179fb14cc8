#include "train/FusedAdamW.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

#include <sstream>
#include <vector>

namespace ringtrain::train {
namespace {

std::vector<at::Tensor> makeParameters(int64_t seed) {
  at::manual_seed(seed);
  return {at::randn({7, 13}).requires_grad_(), at::randn({5}).requires_grad_(),
          at::randn({257}).requires_grad_()};
}

// Gradients for `step`; the middle parameter misses step 0, so its step count lags the others'.
void setGradients(std::vector<at::Tensor>& parameters, int step) {
  at::manual_seed(100 + step);
  for (size_t p = 0; p < parameters.size(); ++p) {
    const at::Tensor grad = at::randn(parameters[p].sizes());
    parameters[p].mutable_grad() = (p == 1 && step == 0) ? at::Tensor() : grad;
  }
}

void expectClose(const std::vector<at::Tensor>& actual, const std::vector<at::Tensor>& expected,
                 int step) {
  for (size_t p = 0; p < actual.size(); ++p) {
    EXPECT_TRUE(at::allclose(actual[p], expected[p], 1e-6, 1e-7))
        << "parameter " << p << " after step " << step;
  }
}

class FusedAdamWMatchesLibTorch : public ::testing::TestWithParam<double> {};

TEST_P(FusedAdamWMatchesLibTorch, OverSeveralSteps) {
  const auto options = torch::optim::AdamWOptions(1e-2).weight_decay(GetParam());
  std::vector<at::Tensor> fusedParameters = makeParameters(3);
  std::vector<at::Tensor> referenceParameters = makeParameters(3);
  FusedAdamW fused(fusedParameters, options);
  torch::optim::AdamW reference(referenceParameters, options);
  for (int step = 0; step < 5; ++step) {
    setGradients(fusedParameters, step);
    setGradients(referenceParameters, step);
    fused.step();
    reference.step();
    expectClose(fusedParameters, referenceParameters, step);
  }
}

INSTANTIATE_TEST_SUITE_P(WeightDecay, FusedAdamWMatchesLibTorch, ::testing::Values(0.0, 0.05));

// Checkpoints stay interchangeable: LibTorch's AdamW state, saved and loaded into the fused one,
// continues as LibTorch's would.
TEST(FusedAdamW, ContinuesFromLibTorchAdamWState) {
  const auto options = torch::optim::AdamWOptions(1e-2).weight_decay(0.01);
  std::vector<at::Tensor> referenceParameters = makeParameters(9);
  torch::optim::AdamW reference(referenceParameters, options);
  for (int step = 0; step < 3; ++step) {
    setGradients(referenceParameters, step);
    reference.step();
  }
  std::ostringstream saved;
  {
    torch::serialize::OutputArchive archive;
    reference.save(archive);
    archive.save_to(saved);
  }
  std::vector<at::Tensor> fusedParameters;
  for (const at::Tensor& parameter : referenceParameters) {
    fusedParameters.push_back(parameter.detach().clone().requires_grad_());
  }
  FusedAdamW fused(fusedParameters, options);
  std::istringstream bytes(saved.str());
  torch::serialize::InputArchive archive;
  archive.load_from(bytes);
  fused.load(archive);
  for (int step = 3; step < 6; ++step) {
    setGradients(fusedParameters, step);
    setGradients(referenceParameters, step);
    fused.step();
    reference.step();
    expectClose(fusedParameters, referenceParameters, step);
  }
}

// State the kernel cannot take (here a non-contiguous moment) goes through LibTorch's step, with
// the same result.
TEST(FusedAdamW, FallsBackForStateTheKernelCannotTake) {
  const auto options = torch::optim::AdamWOptions(1e-2);
  std::vector<at::Tensor> fusedParameters = {at::randn({6, 4}).requires_grad_()};
  std::vector<at::Tensor> referenceParameters = {
      fusedParameters[0].detach().clone().requires_grad_()};
  FusedAdamW fused(fusedParameters, options);
  torch::optim::AdamW reference(referenceParameters, options);
  for (int step = 0; step < 3; ++step) {
    at::manual_seed(step);
    const at::Tensor grad = at::randn({6, 4});
    fusedParameters[0].mutable_grad() = grad.clone();
    referenceParameters[0].mutable_grad() = grad.clone();
    fused.step();
    reference.step();
    if (step == 0) {
      auto& state = static_cast<torch::optim::AdamWParamState&>(
          *fused.state().at(fusedParameters[0].unsafeGetTensorImpl()));
      state.exp_avg(state.exp_avg().t().contiguous().t());  // same values, transposed layout
    }
    expectClose(fusedParameters, referenceParameters, step);
  }
}

}  // namespace
}  // namespace ringtrain::train

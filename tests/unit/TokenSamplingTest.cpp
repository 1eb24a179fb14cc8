// The next-token rule of ringtrain generate: greedy is argmax, top-k keeps the k most likely,
// draws follow softmax(logits / T) and repeat for a seed.
#include "cli/TokenSampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ringtrain/util/Error.h"

namespace ringtrain::cli {
namespace {

at::Generator seeded(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

TEST(TokenSampling, GreedyIsArgmaxAndTopOneIsGreedy) {
  const at::Tensor logits = at::tensor({0.5, 2.0, -1.0, 2.0, 1.0}, at::kFloat);
  at::Generator generator = seeded(1);
  EXPECT_EQ(nextToken(logits, {}, generator), 1);  // the first of equal ones
  EXPECT_EQ(nextToken(logits.unsqueeze(0), {}, generator), 1);
  for (int draw = 0; draw < 20; ++draw) {
    const int64_t token = nextToken(logits, {1.0, 2}, generator);
    EXPECT_TRUE(token == 1 || token == 3) << token;  // the two tied at the top
  }
  const at::Tensor distinct = at::tensor({0.5, 2.0, -1.0, 1.9}, at::kFloat);
  for (int draw = 0; draw < 20; ++draw) EXPECT_EQ(nextToken(distinct, {5.0, 1}, generator), 1);
}

TEST(TokenSampling, DrawsFollowTheSoftmaxOfLogitsOverTemperature) {
  const std::vector<double> values{1.0, 0.0, -0.5, 0.7};
  const at::Tensor logits = at::tensor(values, at::kDouble);
  const double temperature = 0.7;
  at::Generator generator = seeded(3);
  constexpr int kDraws = 20000;
  std::vector<double> counts(values.size(), 0);
  for (int draw = 0; draw < kDraws; ++draw)
    counts[nextToken(logits, {temperature, 0}, generator)] += 1;
  double total = 0;
  for (double value : values) total += std::exp(value / temperature);
  for (size_t i = 0; i < values.size(); ++i) {
    const double p = std::exp(values[i] / temperature) / total;
    // Five standard deviations of a binomial count.
    EXPECT_NEAR(counts[i] / kDraws, p, 5 * std::sqrt(p * (1 - p) / kDraws)) << i;
  }
}

TEST(TokenSampling, ASeedRepeatsTheDrawsAndBadOptionsAreRefused) {
  const at::Tensor logits = at::randn({50});
  const auto draws = [&](uint64_t seed) {
    at::Generator generator = seeded(seed);
    std::vector<int64_t> tokens;
    for (int i = 0; i < 30; ++i) tokens.push_back(nextToken(logits, {1.0, 10}, generator));
    return tokens;
  };
  EXPECT_EQ(draws(7), draws(7));
  EXPECT_NE(draws(7), draws(8));
  EXPECT_THROW(checkSamplingOptions({-1.0, 0}), UserError);
  EXPECT_THROW(checkSamplingOptions({NAN, 0}), UserError);
  EXPECT_THROW(checkSamplingOptions({1.0, -2}), UserError);
}

}  // namespace
}  // namespace ringtrain::cli

// The objective's arithmetic against LibTorch's own: a loss at every position of a token window
// is cross-entropy over the flattened positions, a model with one output per sample learns the
// token after the window, and a custom target is counted per sample.
#include "train/Objective.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/util/Error.h"

namespace ringtrain::train {
namespace {

constexpr int64_t kWindows = 3;
constexpr int64_t kLength = 5;
constexpr int64_t kVocabulary = 7;

data::Batch tokenBatch() {
  at::manual_seed(11);
  const at::Tensor tokens = at::randint(0, kVocabulary, {kWindows, kLength + 1});
  return {tokens.slice(1, 0, kLength).to(at::kFloat), tokens.slice(1, 1).contiguous()};
}

TEST(Objective, EveryPositionIsCrossEntropyOverTheFlattenedPositions) {
  const TrainHooks builtIn;
  const Objective objective(builtIn, /*everyPosition=*/true);
  const data::Batch batch = objective.withTargets(tokenBatch());
  ASSERT_EQ(batch.labels.sizes().vec(), (std::vector<int64_t>{kWindows, kLength}));
  const at::Tensor logits = at::randn({kWindows, kLength, kVocabulary});
  const at::Tensor flat = logits.reshape({-1, kVocabulary});
  const at::Tensor expected = at::cross_entropy_loss(flat, batch.labels.reshape(-1));
  EXPECT_TRUE(objective.meanLoss(logits, batch.labels).allclose(expected));
  EXPECT_EQ(objective.units(batch.labels), kWindows * kLength);
  EXPECT_TRUE(objective.lossSum(logits, batch.labels)
                  .allclose(expected * static_cast<double>(kWindows * kLength)));
  const int64_t right = flat.argmax(1).eq(batch.labels.reshape(-1)).sum().item<int64_t>();
  EXPECT_EQ(objective.correct(logits, batch.labels).item<int64_t>(), right);
}

TEST(Objective, OneOutputPerSampleLearnsTheTokenAfterTheWindow) {
  const TrainHooks builtIn;
  const Objective objective(builtIn);
  const data::Batch raw = tokenBatch();
  const data::Batch batch = objective.withTargets(raw);
  EXPECT_TRUE(batch.labels.equal(raw.labels.select(1, kLength - 1)));
  const at::Tensor logits = at::randn({kWindows, kVocabulary});
  EXPECT_EQ(objective.units(batch.labels), kWindows);
  EXPECT_TRUE(objective.lossSum(logits, batch.labels)
                  .allclose(at::cross_entropy_loss(logits, batch.labels, {}, at::Reduction::Sum)));
}

TEST(Objective, AHookedLossIsAMeanOverWhatItScores) {
  TrainHooks hooks;
  hooks.loss = [](const at::Tensor& output, const at::Tensor& labels) {
    return (output - labels).pow(2).mean();
  };
  hooks.target = [](const data::Batch& batch) { return batch.features.flatten(1); };
  const Objective objective(hooks);
  const data::Batch batch = objective.withTargets(tokenBatch());
  EXPECT_FALSE(objective.classifies());
  // The autoencoder's targets are [n, D], but it scores n samples, whatever the model outputs.
  EXPECT_EQ(objective.units(batch.labels), kWindows);
  EXPECT_EQ(Objective(hooks, /*everyPosition=*/true).units(batch.labels), kWindows);
  const at::Tensor output = at::randn({kWindows, kLength});
  EXPECT_TRUE(objective.lossSum(output, batch.labels)
                  .allclose(hooks.loss(output, batch.labels) * static_cast<double>(kWindows)));
}

TEST(Objective, AModelThatDeclaresEveryPositionMustGiveThem) {
  const TrainHooks builtIn;
  const Objective objective(builtIn, /*everyPosition=*/true);
  const data::Batch batch = objective.withTargets(tokenBatch());
  try {
    objective.meanLoss(at::randn({kWindows, kVocabulary}), batch.labels);
    FAIL() << "a [n, C] output was scored against [n, L] targets";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("must be [batch, L, classes]"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace ringtrain::train

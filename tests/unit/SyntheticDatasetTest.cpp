#include "data/SyntheticDataset.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ringtrain/data/Dataset.h"
#include "ringtrain/util/Error.h"

namespace ringtrain::data {
namespace {

TEST(SyntheticDataset, IsAFunctionOfSeedAndSplit) {
  const Dataset a = makeSynthetic({500, 16, 4}, 7, Split::kTrain);
  const Dataset b = makeSynthetic({500, 16, 4}, 7, Split::kTrain);
  const Dataset otherSeed = makeSynthetic({500, 16, 4}, 8, Split::kTrain);
  const Dataset validation = makeSynthetic({500, 16, 4}, 7, Split::kValidation);
  EXPECT_TRUE(a.features.equal(b.features));
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_FALSE(a.features.equal(otherSeed.features));
  EXPECT_FALSE(a.features.equal(validation.features));
}

TEST(SyntheticDataset, SmallerSetIsAPrefixOfALargerOne) {
  // Sizes on both sides of one block of candidate draws.
  const Dataset small = makeSynthetic({300, 8, 3}, 4, Split::kTrain);
  const Dataset large = makeSynthetic({20000, 8, 3}, 4, Split::kTrain);
  EXPECT_TRUE(small.features.equal(large.features.slice(0, 0, 300)));
  EXPECT_TRUE(small.labels.equal(large.labels.slice(0, 0, 300)));
}

TEST(SyntheticDataset, HasTheRequestedShapeAndUsesEveryClass) {
  const Dataset dataset = makeSynthetic({2000, 12, 5}, 1, Split::kTrain);
  EXPECT_EQ(dataset.features.sizes().vec(), (std::vector<int64_t>{2000, 12}));
  EXPECT_EQ(dataset.numClasses, 5);
  EXPECT_EQ(at::bincount(dataset.labels).size(0), 5);
  EXPECT_GE(dataset.labels.min().item<int64_t>(), 0);
}

TEST(SyntheticDataset, SpecParsing) {
  const Dataset dataset = loadDataset("synthetic:30:9:3", Split::kTrain, {});
  EXPECT_EQ(dataset.size(), 30);
  EXPECT_EQ(dataset.sampleShape(), (std::vector<int64_t>{9}));
  EXPECT_THROW(loadDataset("synthetic:abc", Split::kTrain, {}), UserError);
  EXPECT_THROW(loadDataset("synthetic:0", Split::kTrain, {}), UserError);
  EXPECT_THROW(loadDataset("synthetic:10:4:1", Split::kTrain, {}), UserError);
  EXPECT_THROW(loadDataset("synthetic:10:4:3:2", Split::kTrain, {}), UserError);
}

TEST(SyntheticDataset, ValidationSplitIsDisjointAndSeeded) {
  Dataset all = makeSynthetic({100, 4, 3}, 1, Split::kTrain);
  all.features.select(1, 0).copy_(at::arange(100, at::kFloat));  // tag rows
  const auto [train, validation] = splitOffValidation(all, 0.1, 5);
  EXPECT_EQ(train.size(), 90);
  EXPECT_EQ(validation.size(), 10);
  const at::Tensor tags = at::cat({train.features.select(1, 0), validation.features.select(1, 0)});
  EXPECT_TRUE(std::get<0>(tags.sort()).equal(at::arange(100, at::kFloat)));
  EXPECT_THROW(splitOffValidation(all, 1.5, 5), UserError);
}

}  // namespace
}  // namespace ringtrain::data
